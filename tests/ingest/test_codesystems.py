"""Code systems: recognised by URI, codes checked per system, hostile systems and codes refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passerelle.errors import ConfigError
from passerelle.ingest import parse_schema, sources
from passerelle.ingest.codesystems import (
    MAX_URI,
    code_ok,
    loinc_check_digit,
    system_of,
    uri_ok,
    verhoeff_ok,
)
from passerelle.ingest.fhir import fhir_batches
from passerelle.ingest.ins import ins_identifier, ins_kind, ins_value, local_identifier
from passerelle.ingest.schema import shipped_schema
from passerelle.storage import open_store
from tests.ingest.fhir_export import condition, french_patient, ingest_export, write_export
from tests.ingest.helpers import read_files, table

SNOMED = "http://snomed.info/sct"


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("http://hl7.org/fhir/sid/icd-10", "icd-10"),
        ("http://hl7.org/fhir/sid/icd-10-fr", "cim-10"),
        ("https://smt.esante.gouv.fr/terminologie-cim-10/", "cim-10"),
        ("http://snomed.info/sct", "snomed-ct"),
        ("http://loinc.org", "loinc"),
        ("http://www.whocc.no/atc", "atc"),
        ("https://smt.esante.gouv.fr/terminologie-ccam", "ccam"),
        ("urn:oid:1.2.250.1.213.2.5", "ccam"),
        ("http://snomed.info/sct/900000000000207008", "local"),  # an edition URI, not the system
        ("http://SNOMED.info/sct", "local"),  # URIs are case-sensitive
        ("http://snomed.info.evil.example/sct", "local"),
        ("http://acme.org/devices/clinical-codes", "local"),
        (None, "local"),
    ],
)
def test_systems_are_recognised_by_their_canonical_uri(uri: str | None, name: str) -> None:
    assert system_of(uri) == name


@pytest.mark.parametrize(
    ("system", "good", "bad"),
    [
        ("icd-10", ["K35.8", "K358", "E11", "U07.1"], ["X", "k35.8", "K3", "35.8", "K35.8+0"]),
        ("cim-10", ["E11.x0", "K35.8+0", "I21.4"], ["E1", "e11", "E11.x0x0x"]),
        (
            "snomed-ct",
            ["39065001", "386661006", "3092008", "128045006:{363698007=56459004}"],
            ["39065002", "039065001", "12345", "39065011", "Burn of ear", "128045006:{1=2}"],
        ),
        ("loinc", ["29463-7", "8867-4", "600-7", "LA6576-8"], ["29463-6", "29463", "8867-44"]),
        ("atc", ["A", "A10", "A10B", "A10BA", "A10BA02"], ["A1", "E10BA02", "A10BA2", "a10ba02"]),
        ("ccam", ["DEQP003", "HFFC0044", "YYYY600"], ["DEQP03", "deqp003", "DEQ P003"]),
        ("local", ["body-weight", "BT", "' OR 1=1 --", "é"], [" BT", "BT ", "a\tb", "a\x00", ""]),
    ],
)
def test_codes_are_checked_under_their_system(system: str, good: list[str], bad: list[str]) -> None:
    for code in good:
        assert code_ok(system, code), code
    for code in bad:
        assert not code_ok(system, code), code


@given(st.integers(min_value=100_000, max_value=10**17))
def test_verhoeff_catches_every_single_digit_error(number: int) -> None:
    digits = str(number)
    check = next(d for d in "0123456789" if verhoeff_ok(digits + d))
    assert [d for d in "0123456789" if verhoeff_ok(digits + d)] == [check]
    body = digits + check
    for i in range(len(body)):
        for d in "0123456789":
            if d != body[i]:
                assert not verhoeff_ok(body[:i] + d + body[i + 1 :])


@given(st.integers(min_value=1, max_value=9_999_999))
def test_the_loinc_check_digit_catches_single_digit_errors(number: int) -> None:
    digits = str(number)
    check = loinc_check_digit(digits)
    assert code_ok("loinc", f"{digits}-{check}")
    assert not code_ok("loinc", f"{digits}-{(check + 1) % 10}")


@pytest.mark.parametrize(
    "uri",
    [
        "http://snomed.іnfo/sct",  # Cyrillic i: looks like SNOMED CT, is not a URI
        "http://snomed.info/sct\u200b",  # a zero-width space after it
        "http://snomed.info/sct\n",
        "http://snomed.info/\x00sct",
        "http://snomed info/sct",
        "http://x/" + "a" * MAX_URI,
    ],
)
def test_a_system_that_is_not_a_plain_uri_is_refused(tmp_path: Path, uri: str) -> None:
    assert not uri_ok(uri)
    r = ingest_export(
        tmp_path,
        {
            "Patient": [french_patient("p", "1850575123456")],
            "Condition": [condition("c", "Patient/p", [{"system": uri, "code": "39065001"}])],
        },
    )
    [row] = read_files(r.quarantine_files).to_pylist()
    assert row["_reason"] == "code-system:code"
    assert not any(ch.isalnum() and ch not in "x9" for ch in row["code"])  # shape only
    assert table(r, "condition").num_rows == 0


def test_an_unknown_system_is_no_reason_and_its_code_is_kept_verbatim(tmp_path: Path) -> None:
    hostile = "'); DROP TABLE condition; --"
    coding = [
        {
            "system": "http://hospital.example/codes",
            "code": hostile,
            "display": "<script>x</script>",
        },
        {"system": "http://snomed.info.evil.example/sct", "code": "not-a-sctid"},
    ]
    r = ingest_export(
        tmp_path,
        {
            "Patient": [french_patient("p", "1850575123456")],
            "Condition": [condition("c", "Patient/p", coding)],
        },
    )
    assert r.rows_quarantined == 0
    [row] = table(r, "condition").to_pylist()
    assert [(c["system"], c["code"]) for c in row["code"]] == [
        ("local", hostile),
        ("local", "not-a-sctid"),
    ]
    assert row["code"][0]["display"] == "<script>x</script>"  # data, never markup or SQL


def test_a_code_with_control_characters_is_refused(tmp_path: Path) -> None:
    coding = [{"system": "http://hospital.example/codes", "code": "A\x1b[31mB"}]
    r = ingest_export(
        tmp_path,
        {
            "Patient": [french_patient("p", "1850575123456")],
            "Condition": [condition("c", "Patient/p", coding)],
        },
    )
    assert dict(r.reasons) == {"code-format:code": 1}


def test_identifiers_inside_codes_are_quarantined_and_never_written(tmp_path: Path) -> None:
    from passerelle.ingest import with_key

    nir = with_key("2900175123457")
    coding = [
        {"system": "http://hospital.example/codes", "code": "Z00", "display": f"patient {nir}"},
    ]
    other = [{"system": f"http://hospital.example/{nir}", "code": "Z00"}]
    phone = [{"system": "http://hospital.example/codes", "code": "06 12 34 56 78"}]
    r = ingest_export(
        tmp_path,
        {
            "Patient": [french_patient("p", "1850575123456")],
            "Condition": [
                condition("c0", "Patient/p", coding),
                condition("c1", "Patient/p", other),
                condition("c2", "Patient/p", phone),
            ],
        },
    )
    assert dict(r.reasons) == {"nir-in-text:code": 2, "phone-in-text:code": 1}
    raw = "".join(p.read_bytes().decode("latin-1") for p in (tmp_path / "hub").rglob("*.*"))
    assert nir not in raw and nir[:13] not in raw


def test_a_non_coding_value_under_a_coding_path_is_a_format_error(tmp_path: Path) -> None:
    res = condition("c", "Patient/p", [])
    res["code"]["coding"] = ["39065001", 39065001, {"system": SNOMED, "code": 39065001}]
    r = ingest_export(
        tmp_path, {"Patient": [french_patient("p", "1850575123456")], "Condition": [res]}
    )
    assert dict(r.reasons) == {"code-format:code": 1}


def test_a_deeply_nested_resource_is_quarantined_not_a_crash(tmp_path: Path) -> None:
    def line(cid: str, depth: int) -> str:
        res = json.dumps(condition(cid, "Patient/p", [{"system": SNOMED, "code": "39065001"}]))
        return res[:-1] + ', "extension": ' + "[" * depth + "]" * depth + "}"

    folder = write_export(tmp_path / "export", {"Patient": [french_patient("p", "1850575123456")]})
    rows = [line("deep", 100_000), line("fine", 200)]
    (folder / "Condition.ndjson").write_text("\n".join(rows) + "\n")
    view = next(v for v in shipped_schema("fhir_bulk").views if v.resource == "Condition")
    [batch] = fhir_batches(open_store(f"file://{folder}"), "Condition.ndjson", view, 100)
    assert [(b.row, b.reason) for b in batch.broken] == [(0, "too-deep")]
    assert batch.rows.to_pylist() == [1]
    r = ingest_export(tmp_path / "again", {"Patient": [french_patient("p", "1850575123456")]})
    assert r.rows_quarantined == 0  # the export without it: the limit is per line


def test_a_line_longer_than_the_limit_is_cut_and_refused(tmp_path: Path) -> None:
    lines = [b"short", b"y" * 100, b"", b"z" * 35, b"last"]
    chunks = [b"\n".join(lines)[i : i + 7] for i in range(0, 160, 7)]
    out = [line for batch in sources.ndjson_lines(chunks, 2, max_line=40) for line in batch]
    assert [len(x) for x in out] == [5, 41, 0, 35, 4]  # the long line: cut, and still counted
    folder = write_export(
        tmp_path / "export",
        {"Condition": [condition(f"c{i}", "Patient/p", []) for i in range(3)]},
    )
    text = (folder / "Condition.ndjson").read_text()
    (folder / "Condition.ndjson").write_text(text.replace('"c1"', '"' + "c" * 500 + '"'))
    view = next(v for v in shipped_schema("fhir_bulk").views if v.resource == "Condition")
    store = open_store(f"file://{folder}")
    [batch] = fhir_batches(store, "Condition.ndjson", view, 100, max_line=400)
    assert [(b.row, b.reason, b.text) for b in batch.broken] == [(1, "too-long", "")]
    assert batch.rows.to_pylist() == [0, 2]


def test_coding_columns_are_checked_when_the_schema_is_read() -> None:
    base = '[dataset]\nname = "x"\nkind = "%s"\n'
    fhir = base % "fhir-ndjson" + '[[views]]\nname = "c"\nresource = "Condition"\n'
    with pytest.raises(ConfigError, match="use it in FHIR schemas"):
        parse_schema(base % "csv" + '[[columns]]\nname = "code"\ntype = "coding"\n')
    for extra in ('pattern = "[A-Z]+"', 'generalize = "year"', "nir = true"):
        with pytest.raises(ConfigError, match="a coding column takes no"):
            col = f'[[views.columns]]\nname = "code"\npath = "code.coding"\ntype = "coding"\n{extra}\n'
            parse_schema(fhir + col)
    with pytest.raises(ConfigError, match="on_mismatch"):
        parse_schema(fhir + '[[views.columns]]\nname = "a"\npath = "a"\non_mismatch = "drop"\n')


def test_the_ins_is_picked_from_its_systems_only() -> None:
    nir, nia, test = (
        {"system": f"urn:oid:1.2.250.1.213.1.4.{n}", "value": v}
        for n, v in ((8, "N"), (9, "A"), (10, "T"))
    )
    assert ins_value([test, nia, nir]) == ["N"] and ins_kind([test, nia]) == ["INS-NIA"]
    assert ins_value([{**nir, "use": "old"}, test]) == ["T"]
    assert ins_value([{**nir, "value": ""}, {**nir, "value": 185}, "x", None]) == []
    assert ins_identifier([{"system": "urn:oid:1.2.250.1.213.1.4.8 ", "value": "N"}]) is None
    local = {"system": "urn:oid:1.2.250.1.71.4.2.7", "value": "IPP-1"}
    assert local_identifier([nir, {"value": "no system"}, local]) == [f"{local['system']}|IPP-1"]
    assert local_identifier([nir, nia]) == []
