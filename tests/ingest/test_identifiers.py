"""The identifier detector: planted NIRs, phones and e-mails are found; ordinary values are not."""

from __future__ import annotations

import random
import unicodedata
from datetime import date

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passerelle.ingest.identifiers import IDENTIFIER_KINDS, find_identifiers, redact_text
from passerelle.ingest.nir import nir_key, with_key

NIR = with_key("1850575123456")
CORSICA = with_key("285052A123456")
CORSICA_B = with_key("1990 12B 045 012".replace(" ", ""))


def _kinds(text: str) -> set[str]:
    return set(redact_text(text)[1])


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"patient {NIR} vu ce jour", "nir"),
        (
            f"NIR: {NIR[0]} {NIR[1:3]} {NIR[3:5]} {NIR[5:7]} {NIR[7:10]} {NIR[10:13]} {NIR[13:]}",
            "nir",
        ),
        (f"{NIR[:5]}.{NIR[5:7]}.{NIR[7:10]}.{NIR[10:13]}.{NIR[13:]}", "nir"),
        (f"{NIR[:3]}-{NIR[3:7]}-{NIR[7:]}", "nir"),
        (f"secu {NIR[:7]}  {NIR[7:]}", "nir"),  # two spaces
        (f"nir{NIR}", "nir"),  # glued to a word
        (f"corse {CORSICA}", "nir"),
        (f"corse {CORSICA.lower()}", "nir"),
        (f"{CORSICA[:5]} {CORSICA[5:7]} {CORSICA[7:]}", "nir"),
        (f"({CORSICA_B})", "nir"),
        (f"{NIR[:7]}\u00a0{NIR[7:]}", "nir"),  # non-breaking space
        ("".join(chr(ord(c) + 0xFEE0) for c in NIR), "nir"),  # full-width digits
        ("appeler le 06 12 34 56 78", "phone"),
        ("0612345678", "phone"),
        ("tel. 01.23.45.67.89", "phone"),
        ("06-12-34-56-78 (fille)", "phone"),
        ("+33 6 12 34 56 78", "phone"),
        ("+33 (0)6 12 34 56 78", "phone"),
        ("+33612345678", "phone"),
        ("0033 6 12 34 56 78", "phone"),
        ("+1 (555) 123-4567", "phone"),
        ("+44 20 7946 0958", "phone"),
        ("ecrire a jean.dupont@example.fr svp", "email"),
        ("J.Dupont+soins@chu-lyon.sante.fr", "email"),
    ],
)
def test_each_written_form_is_found_and_redacted(text: str, kind: str) -> None:
    redacted, kinds = redact_text(unicodedata.normalize("NFKC", text))
    assert kind in kinds, text
    assert f"[{kind}]" in redacted
    found = find_identifiers(pa.array([text]))
    assert found.rows[kind][0], text
    assert sum(ch.isdigit() for ch in found.redacted[0].as_py()) <= 1  # "(0)" may stay


@pytest.mark.parametrize(
    "text",
    [
        "2020-01-15",
        "15/01/2020 10:30",
        "01.02.2023 10:30",
        "2020-01-15 2020-02-20",
        "123.45",
        "-1 234 567,89 EUR",
        "100000",
        "S0612345678",  # a stay id, not a phone
        "024999815",  # FINESS
        "E11.9",
        "K359|Z380|C509",
        "NFKA008|YYYY600",
        "2345-7",  # LOINC
        "Encounter/3f2a9c0d1e4b5a6978e1d2c3b4a59687e12",
        "00123456789",  # a code with leading zeros
        f"{NIR[:14]}{(int(NIR[14]) + 1) % 10}",  # a NIR-shaped number with a wrong key
        "deces",
        "mutation vers CHU",
        "user@localhost",
        "@twitter",
        "",
    ],
)
def test_ordinary_values_are_left_alone(text: str) -> None:
    assert _kinds(text) == set(), text
    found = find_identifiers(pa.array([text]))
    assert not found.any()[0]
    assert found.redacted[0].as_py() == text


def test_nulls_and_empty_arrays() -> None:
    empty = find_identifiers(pa.array([], pa.string()))
    assert len(empty.redacted) == 0
    nulls = find_identifiers(pa.array([None, None], pa.string()))
    assert not nulls.any().any() and nulls.redacted.null_count == 2
    mixed = find_identifiers(pa.array([None, f"x {NIR}", "y"]))
    assert mixed.redacted.to_pylist() == [None, "x [nir]", "y"]
    assert mixed.rows["nir"].tolist() == [False, True, False]


# --- property tests -----------------------------------------------------------------------

_FILLER = st.text(
    alphabet=st.sampled_from("abcdefghij klmnopqrstuvwxyz ABCXYZ éàç,;:!?'()[]0123456789"),
    max_size=40,
)
_SEPARATORS = st.sampled_from(["", " ", ".", "-", "  "])


@st.composite
def nirs(draw: st.DrawFn) -> str:
    """A valid NIR written with a random separator style (Corsica included)."""
    sex = draw(st.sampled_from("12"))
    year, month = draw(st.integers(0, 99)), draw(st.integers(1, 12))
    dept = draw(st.sampled_from(["75", "13", "2A", "2B", "97", "01"]))
    rest = draw(st.integers(0, 999_999))
    body = f"{sex}{year:02d}{month:02d}{dept}{rest:06d}"
    nir = f"{body}{nir_key(body):02d}"
    sep = draw(_SEPARATORS)
    groups = [nir[0], nir[1:3], nir[3:5], nir[5:7], nir[7:10], nir[10:13], nir[13:]]
    text = sep.join(groups)
    return text.lower() if draw(st.booleans()) else text


@st.composite
def phones(draw: st.DrawFn) -> str:
    digits = [draw(st.integers(0, 9)) for _ in range(8)]
    pairs = [f"0{draw(st.integers(1, 9))}"] + [
        f"{digits[i]}{digits[i + 1]}" for i in range(0, 8, 2)
    ]
    style = draw(st.sampled_from(["fr", "intl", "intl-paren"]))
    sep = draw(st.sampled_from(["", " ", ".", "-"]))
    if style == "fr":
        return sep.join(pairs)
    rest = (sep or " ").join([pairs[0][1], *pairs[1:]])
    return f"+33 (0){rest}" if style == "intl-paren" else f"+33 {rest}"


emails = st.builds(
    lambda user, host, tld: f"{user}@{host}.{tld}",
    st.from_regex(r"[a-z][a-z0-9._-]{0,10}[a-z0-9]", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True),
    st.sampled_from(["fr", "com", "org", "sante.fr"]),
)


def _planted(draw: st.DrawFn, secret: str) -> str:
    before, after = draw(_FILLER), draw(_FILLER)
    return f"{before} {secret} {after}" if draw(st.booleans()) else f"{before}, {secret}."


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(IDENTIFIER_KINDS))
def test_a_planted_identifier_is_always_found(data: st.DataObject, kind: str) -> None:
    secret = data.draw({"nir": nirs(), "phone": phones(), "email": emails}[kind])
    text = _planted(data.draw, secret)
    found = find_identifiers(pa.array([text, "ordinary"]))
    assert found.rows[kind].tolist() == [True, False], text
    redacted = found.redacted[0].as_py()
    assert secret not in redacted
    if kind == "nir":  # not even its digits, whatever the separators were
        digits = "".join(ch for ch in secret.upper() if ch.isalnum())
        squeezed = "".join(ch for ch in redacted.upper() if ch.isalnum())
        assert digits not in squeezed


@st.composite
def ordinary(draw: st.DrawFn) -> str:
    """Values a health dataset holds: dates, times, amounts, codes, counts, words."""
    day = draw(st.dates(min_value=date(1800, 1, 1)))
    amount = draw(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False))
    choices = [
        day.isoformat(),
        day.strftime("%d/%m/%Y"),
        day.strftime("%d.%m.%Y") + draw(st.sampled_from(["", " 10:30", " 23h15"])),
        f"{day.isoformat()} {draw(st.dates(min_value=date(1800, 1, 1))).isoformat()}",
        str(amount),
        f"{amount:,}".replace(",", " "),
        str(draw(st.integers(-(10**12), 10**12))),
        draw(st.from_regex(r"[A-Z][0-9]{2}(?:\.[0-9A-Z]{1,4})?", fullmatch=True)),  # ICD-10
        draw(st.from_regex(r"[A-Z]{4}[0-9]{3}", fullmatch=True)),  # CCAM
        draw(st.from_regex(r"[0-9]{1,7}-[0-9]", fullmatch=True)),  # LOINC
        draw(st.from_regex(r"S[0-9]{10}", fullmatch=True)),  # stay id
        draw(st.from_regex(r"[0-9]{2}[0-9AB][0-9]{6}", fullmatch=True)),  # FINESS
        draw(st.from_regex(r"[0-9a-f]{32}", fullmatch=True)),  # resource id
        draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz -'", max_size=30)),
    ]
    return choices[draw(st.integers(0, len(choices) - 1))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ordinary(), min_size=1, max_size=10))
def test_ordinary_values_are_not_flagged(values: list[str]) -> None:
    found = find_identifiers(pa.array(values))
    flagged = [v for v, hit in zip(values, found.any(), strict=True) if hit]
    assert not flagged
    assert found.redacted.to_pylist() == values


def test_false_positive_rate_on_ordinary_values_is_not_measurable() -> None:
    """100,000 seeded ordinary values of every shape: none flagged (rate < 1e-5)."""
    rng = random.Random(20261201)

    def value() -> str:
        y, m, d = rng.randint(1900, 2030), rng.randint(1, 12), rng.randint(1, 28)
        return rng.choice(
            [
                f"{y}-{m:02d}-{d:02d}",
                f"{d:02d}/{m:02d}/{y} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
                f"{d:02d}.{m:02d}.{y}",
                f"{rng.uniform(-1e9, 1e9):.2f}",
                str(rng.randint(0, 10**12)),
                f"S{rng.randint(0, 10**10 - 1):010d}",
                f"{rng.randint(0, 10**9 - 1):09d}",
                f"{rng.getrandbits(128):032x}",
                f"{rng.choice('ABCDEFGHIJKLMNOPQRSTUVWXYZ')}{rng.randint(0, 99):02d}.{rng.randint(0, 9)}",
            ]
        )

    values = [value() for _ in range(100_000)]
    found = find_identifiers(pa.array(values))
    assert int(found.any().sum()) == 0


_NOISE = st.text(alphabet=st.sampled_from("0123456789 .-+()@abAB_/x\u00a0"), max_size=60)


@settings(max_examples=500, deadline=None)
@given(st.lists(_NOISE, max_size=10))
def test_the_vectorised_prefilter_never_drops_what_the_exact_rules_find(values: list[str]) -> None:
    """Digit-and-separator noise: the Arrow scan and the exact per-value rules agree."""
    found = find_identifiers(pa.array(values, pa.string()))
    for k, value in enumerate(values):
        redacted, kinds = redact_text(unicodedata.normalize("NFKC", value))
        assert {kind for kind in IDENTIFIER_KINDS if found.rows[kind][k]} == set(kinds), value
        if kinds:
            assert found.redacted[k].as_py() == redacted


_INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e"]
_DIGITS_OF = {"arabic-indic": 0x0660, "extended-arabic": 0x06F0, "devanagari": 0x0966}


def _in_script(text: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in text)


@pytest.mark.parametrize(
    "text",
    [
        *(f"nir {mark.join(NIR)} ok" for mark in _INVISIBLE),  # displays as the plain NIR
        *(f"nir {_in_script(NIR, zero)}" for zero in _DIGITS_OF.values()),
        f"{_in_script(NIR[:7], 0x0660)}\u200b {NIR[7:]}",
        "appeler le 06\u200b12\u200b34\u200b56\u200b78",
        f"tel {_in_script('06 12 34 56 78', 0x0966)}",
        "jean\u200b.dupont@example.fr",
    ],
)
def test_invisible_characters_and_other_scripts_digits_hide_nothing(text: str) -> None:
    """Zero-width spaces, joiners, soft hyphens or bidi marks between the digits (the value
    reads as a plain NIR) and digits of other scripts (which NFKC leaves as they are)
    used to hide an identifier from the scan."""
    assert _kinds(text), text
    found = find_identifiers(pa.array([text, "RAS"]))
    assert found.any().tolist() == [True, False], text
    assert not any(unicodedata.decimal(c, None) is not None for c in found.redacted[0].as_py()[5:])


@pytest.mark.parametrize(
    "text", ["\u200bRAS", "\u0661\u0662 \u0627\u0644\u062d\u0627\u0644\u0629", "x\u00adtension"]
)
def test_invisible_characters_alone_are_left_alone(text: str) -> None:
    found = find_identifiers(pa.array([text]))
    assert not found.any()[0] and found.redacted[0].as_py() == text
