"""Pure pieces: pseudonym normalization, generalization, FHIR paths, schema files."""

from __future__ import annotations

import hmac
import os
import re
from importlib.resources import files

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.errors import ConfigError, UsageError
from passerelle.ingest import (
    departement,
    identity_message,
    parse_schema,
    pseudonym,
    shipped_schema,
    with_key,
)
from passerelle.ingest.fhirpath import compile_path, to_text
from passerelle.ingest.generalize import generalize
from passerelle.ingest.pipeline import version_id
from passerelle.ingest.pseudonym import check_key, pseudonymize, rekey

KEY = b"0123456789abcdef0123"


def test_pseudonym_is_the_documented_hmac() -> None:
    nir = with_key("290012A123456")
    message = b"290012A123456|1990-01-15|2"
    assert identity_message(nir, "1990-01-15", "F") == message
    assert pseudonym(KEY, nir, "1990-01-15", "2") == hmac.new(KEY, message, "sha256").hexdigest()


def test_normalization_gives_one_pseudonym_per_person() -> None:
    nir = with_key("290012A123456")
    spaced = f"2 90 01 2a {nir[7:10]} {nir[10:13]} {nir[13:]}"
    forms = {
        pseudonym(KEY, n, "1990-01-15", s) for n in (nir, spaced) for s in ("2", "F", "female")
    }
    assert len(forms) == 1
    assert pseudonym(KEY, nir, "1990-01-16", "2") not in forms
    assert pseudonym(KEY[::-1], nir, "1990-01-15", "2") not in forms


def test_short_or_textual_keys_are_refused_without_showing_them() -> None:
    for bad in (b"short", "a-text-key-of-enough-length"):
        with pytest.raises(UsageError) as err:
            check_key(bad)  # type: ignore[arg-type]
        assert "short" not in str(err.value) and "text-key" not in str(err.value)


def test_no_collision_among_distinct_persons() -> None:
    """Distinct identities never share a pseudonym (200,000 here; the 10 million check is
    ``test_no_collision_at_ten_million`` marked slow)."""
    n = 200_000
    bodies = pa.array([f"1{i:012d}" for i in range(n)])
    nirs = pa.array([b + f"{97 - int(b) % 97:02d}" for b in bodies.to_pylist()])
    out = pseudonymize(KEY, nirs, pa.array(["1980-01-01"] * n), pa.array(["1"] * n))
    assert len(set(out.to_pylist())) == n
    projected = rekey(b"project-key-0123456789", out)
    assert len(set(projected.to_pylist())) == n


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("PASSERELLE_TEST_10M") != "1", reason="minutes long: set PASSERELLE_TEST_10M=1"
)
def test_no_collision_at_ten_million() -> None:
    """Ten million synthetic persons: compares 64-bit prefixes (a prefix collision-free set
    is collision-free in full; the expected number of chance 64-bit collisions is 3e-6)."""
    import numpy as np

    from passerelle.synth.population import CHUNK, persons_chunk

    total = 10_000_000
    prefixes = np.empty(total, dtype=np.uint64)
    at = 0
    for chunk in range((total + CHUNK - 1) // CHUNK):
        p = persons_chunk(7, chunk, total)
        out = pseudonymize(
            KEY, pa.array(p.nir), pa.array(p.birth.astype(str)), pa.array(p.sex.astype(str))
        )
        prefixes[at : at + len(p)] = [int(h[:16], 16) for h in out.to_pylist()]
        at += len(p)
    assert len(np.unique(prefixes)) == total


@settings(deadline=None)
@given(st.integers(0, 99_999).map(lambda i: f"{i:05d}"))
def test_departement_of_a_postcode(postcode: str) -> None:
    d = departement(postcode)
    assert generalize(pa.array([postcode]), "departement").to_pylist() == [d]
    if postcode.startswith("20"):
        assert d == ("2A" if int(postcode) < 20200 else "2B")
    elif postcode[:2] in ("97", "98"):
        assert d == postcode[:3]
    else:
        assert d == postcode[:2]


def test_dates_generalize_to_year_or_month() -> None:
    dates = pa.array(["1984-07-21", None])
    assert generalize(dates, "year").to_pylist() == ["1984", None]
    assert generalize(dates, "year-month").to_pylist() == ["1984-07", None]


def test_fhir_paths() -> None:
    r = {
        "id": "p1",
        "identifier": [{"system": "x", "value": "1"}, {"system": "urn:nir", "value": "2"}],
        "name": [{"given": ["A", "B"]}, {"given": ["C"]}],
        "active": True,
        "valueQuantity": {"value": 6.5},
    }
    assert to_text(compile_path("identifier.where(system='urn:nir').value")(r)) == "2"
    assert to_text(compile_path("name.given")(r)) == "A|B|C"
    assert to_text(compile_path("name.given.first()")(r)) == "A"
    assert to_text(compile_path("name.given.last()")(r)) == "C"
    assert to_text(compile_path("name.given.count()")(r)) == "3"
    assert to_text(compile_path("telecom.exists()")(r)) == "false"
    assert to_text(compile_path("active")(r)) == "true"
    assert to_text(compile_path("valueQuantity.value")(r)) == "6.5"
    assert to_text(compile_path("missing.path")(r)) is None
    assert to_text(compile_path("name.given.first() | identifier.value")(r)) == "A|1|2"
    assert to_text(compile_path("identifier.where(system='x|y').value | id")(r)) == "p1"
    for bad in ("name.given[0]", "where(x)", "a..b", "resolve()"):
        with pytest.raises(ConfigError):
            compile_path(bad)


def test_shipped_schemas_load_and_policy_changes_the_version() -> None:
    for name in ("pmsi_stays", "dcir_claims", "fhir_bulk"):
        assert shipped_schema(name).name == name
    s = shipped_schema("pmsi_stays")
    text = files("passerelle.ingest").joinpath("schemas").joinpath("pmsi_stays.toml").read_text()
    other = parse_schema(text.replace('generalize = "year-month"', 'generalize = "year"'))
    assert version_id("0" * 64, s, KEY) != version_id("0" * 64, other, KEY)
    assert version_id("0" * 64, s, KEY) == version_id("0" * 64, shipped_schema("pmsi_stays"), KEY)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[dataset]\nname='x'\nkind='xml'", "kind"),
        ("[dataset]\nname='X y'\nkind='csv'\n[[columns]]\nname='a'", "name"),
        ("[dataset]\nname='x'\nkind='csv'", "no columns"),
        ("[dataset]\nname='x'\nkind='csv'\n[[columns]]\nname='a'\ntype='blob'", "type"),
        ("[dataset]\nname='x'\nkind='csv'\n[[columns]]\nname='a'\ncolour='red'", "unknown"),
        ("[dataset]\nname='x'\nkind='csv'\n[[columns]]\nname='a'\npattern='('", "regular"),
        ("[dataset]\nname='x'\nkind='csv'\n[person]\nnir='a'\n[[columns]]\nname='a'", "birth_date"),
        ("[dataset]\nname='x'\nkind='csv'\n[[columns]]\nname='a'\ngeneralize='city'", "generalize"),
        ("not = toml = at all", "TOML"),
    ],
)
def test_bad_schema_files_say_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_schema(text)
    assert words in str(err.value) and "\n" not in str(err.value)


@settings(deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.text("0123456789-", min_size=0, max_size=12), st.dates().map(str)),
        max_size=40,
    ),
    st.integers(0, 3),
)
def test_integer_date_check_agrees_with_the_calendar(values: list[str | None], cut: int) -> None:
    from datetime import date

    from passerelle.ingest.fastcheck import fixed_width, iso_dates

    arr = pa.array(["1999-01-01"] * cut + values).slice(cut)  # also a non-zero offset
    valid, days = iso_dates(*fixed_width(arr, 10))
    for text, ok, n in zip(values, valid, days, strict=True):
        try:
            # the hub's shape is YYYY-MM-DD only: Python also reads ISO basic forms
            # such as "0001010100", which the check rightly refuses
            shaped = text is not None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) is not None
            expected = date.fromisoformat(text) if shaped else None
        except ValueError:
            expected = None
        if expected is not None and expected.year < 1:
            expected = None
        assert ok == (expected is not None), text
        if expected is not None:
            assert n == (expected - date(1970, 1, 1)).days


@settings(deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.text("0123456789AB", min_size=13, max_size=16)), max_size=40)
)
def test_integer_nir_check_agrees_with_the_definition(values: list[str | None]) -> None:
    from passerelle.ingest.fastcheck import fixed_width, nir_checks
    from passerelle.ingest.nir import nir_key_ok

    _fmt, ok = nir_checks(*fixed_width(pa.array(values, pa.string()), 15))
    assert ok.tolist() == [bool(v) and nir_key_ok(v) for v in values]
