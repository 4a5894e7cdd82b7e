"""The published HL7 FHIR R4 examples, ingested as a Bulk Data export: nearly all accepted,
every code kept with its system, patients without an INS pseudonymized locally, every reason
on each refused row, and the INS recognised under its official systems only."""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from passerelle.hub.ingest_history import reasons_by_kind
from passerelle.ingest import pseudonym, with_key
from passerelle.ingest.pseudonym import pseudonymize_local
from passerelle.storage import open_store
from tests.ingest.conftest import KEY
from tests.ingest.fhir_export import (
    INS_NIR,
    condition,
    french_patient,
    ingest_export,
    r4_examples,
)
from tests.ingest.helpers import read_files, table

SNOMED = "http://snomed.info/sct"


def _quarantine(result: object) -> dict[tuple[str, int], str]:
    rows = read_files(result.quarantine_files).to_pylist()  # type: ignore[attr-defined]
    return {(r["_source"], r["_row"]): r["_reason"] for r in rows}


def _all_output_text(root: Path) -> str:
    """Every byte and every decoded Parquet value written under ``root``."""
    store = open_store(f"file://{root}")
    out = []
    for info in store.list():
        data = store.get(info.key).read()
        out.append(data.decode("latin-1"))
        if info.key.endswith(".parquet"):
            t = pq.read_table(io.BytesIO(data))
            out += [str(v) for c in t.column_names for v in t.column(c).to_pylist()]
    return "\n".join(out)


def test_the_r4_examples_are_accepted_but_a_condition_without_any_code(tmp_path: Path) -> None:
    examples = r4_examples()
    r = ingest_export(tmp_path, examples)
    assert r.rows_in == sum(len(v) for v in examples.values()) == 15
    assert (r.rows_accepted, r.rows_quarantined) == (12, 3)
    # condition-example2 is coded by text only ("Asthma"): no code at all, nothing to count;
    # the medication examples are Donald Duck's (Patient/pat1), whom the export does not hold
    assert _quarantine(r) == {
        ("Condition.ndjson", 2): "missing:code",
        ("MedicationRequest.ndjson", 0): "unknown-patient:subject",
        ("MedicationStatement.ndjson", 0): "unknown-patient:subject",
    }
    assert dict(r.reasons) == {"missing:code": 1, "unknown-patient:subject": 2}
    rows = {t.name: t.rows for t in r.tables}
    assert rows == {
        "patient": 3,
        "encounter": 1,
        "condition": 2,
        "observation": 5,
        "procedure": 1,
        "medication_request": 0,
        "medication_statement": 0,
    }


def test_codes_keep_their_system(tmp_path: Path) -> None:
    r = ingest_export(tmp_path, r4_examples())
    obs = {row["id"]: row for row in table(r, "observation").to_pylist()}
    weight = [(c["system"], c["uri"], c["code"]) for c in obs["example"]["code"]]
    assert weight == [
        ("loinc", "http://loinc.org", "29463-7"),
        ("loinc", "http://loinc.org", "3141-9"),
        ("snomed-ct", SNOMED, "27113001"),
        ("local", "http://acme.org/devices/clinical-codes", "body-weight"),
    ]
    assert obs["f206"]["value_code"] == [
        {
            "system": "snomed-ct",
            "uri": SNOMED,
            "code": "3092008",
            "display": "Staphylococcus aureus",
        }
    ]
    cond = {row["id"]: row for row in table(r, "condition").to_pylist()}
    assert cond["example"]["code"][0]["code"] == "39065001"
    assert cond["example"]["code"][0]["system"] == "snomed-ct"
    enc = table(r, "encounter").to_pylist()[0]
    assert enc["class"][0]["code"] == "IMP" and enc["period_start"] is None


def test_medications_keep_their_codes_inline_or_contained(tmp_path: Path) -> None:
    examples = r4_examples()
    [request] = examples["MedicationRequest"]
    [statement] = examples["MedicationStatement"]
    request["subject"] = statement["subject"] = {"reference": "Patient/example"}
    atc = {
        **request,
        "id": "atc",
        "contained": [],
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.whocc.no/atc", "code": "C03BA04"}]
        },
    }
    wrong = {
        **atc,
        "id": "wrong",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.whocc.no/atc", "code": "C03BA4"}]
        },
    }
    examples["MedicationRequest"] += [atc, wrong]
    r = ingest_export(tmp_path, examples)
    got = {row["id"]: row["medication"] for row in table(r, "medication_request").to_pylist()}
    assert [(c["system"], c["code"]) for c in got["medrx0311"]] == [("snomed-ct", "317935006")]
    assert [(c["system"], c["code"]) for c in got["atc"]] == [("atc", "C03BA04")]
    assert "wrong" not in got
    [st] = table(r, "medication_statement").to_pylist()
    assert [(c["system"], c["uri"]) for c in st["medication"]] == [
        ("local", "http://hl7.org/fhir/sid/ndc")
    ]
    assert _quarantine(r)[("MedicationRequest.ndjson", 2)] == "code-format:medication"


def test_patients_without_an_ins_get_a_local_pseudonym_their_resources_share(
    tmp_path: Path,
) -> None:
    r = ingest_export(tmp_path, r4_examples())
    patients = table(r, "patient").to_pylist()
    assert [p["ins_kind"] for p in patients] == [None, None, None]
    assert all(p["postcode"] is None for p in patients)  # 3999, 1055RW: no departement
    mrn = pa.array(["urn:oid:1.2.36.146.595.217.0.1|12345"])
    expected = pseudonymize_local(KEY, mrn)[0].as_py()
    assert expected in {p["person_id"] for p in patients}  # Peter Chalmers, by his MRN
    chalmers = {
        row["person_id"] for row in table(r, "condition").to_pylist() if row["id"] == "example"
    }
    assert chalmers == {expected}
    by_person = Counter(row["person_id"] for row in table(r, "observation").to_pylist())
    assert by_person[expected] == 2  # body weight and heart rate


def test_nothing_identifying_of_the_examples_is_written(tmp_path: Path) -> None:
    ingest_export(tmp_path, r4_examples())
    text = _all_output_text(tmp_path / "hub")
    for needle in (
        "Chalmers",
        "Windsor",
        "Erewhon",
        "5555 6473",
        "urn:oid:1.2.36.146.595.217.0.1",
        "738472983",
        "123456789",
        "p.heuvel@gmail.com",
        "van de Heuvel",
        "+31612345678",
        "1974-12-25",
    ):
        assert needle not in text, needle


def test_every_reason_of_a_refused_row_and_its_patient(tmp_path: Path) -> None:
    bad_key = french_patient("bad", "1850575123456")
    bad_key["identifier"][1]["value"] = with_key("1850575123456")[:13] + "00"
    wrong_check = [{"system": SNOMED, "code": "39065002"}]  # Verhoeff digit wrong
    good = [{"system": SNOMED, "code": "39065001"}]
    r = ingest_export(
        tmp_path,
        {
            "Patient": [bad_key, french_patient("ok", "2900175123457")],
            "Condition": [
                condition("c0", "Patient/bad", wrong_check),  # two reasons
                condition("c1", "Patient/bad", good),
                condition("c2", "Patient/nobody", good),
                condition("c3", "Patient/ok", wrong_check),
                condition("c4", "Patient/ok", good),
                condition("c5", "https://elsewhere.example/fhir/Patient/ok", good),
            ],
        },
    )
    q = _quarantine(r)
    assert q == {
        ("Patient.ndjson", 0): "nir-key:nir",
        ("Condition.ndjson", 0): "code-format:code;patient-quarantined:subject",
        ("Condition.ndjson", 1): "patient-quarantined:subject",
        ("Condition.ndjson", 2): "unknown-patient:subject",
        ("Condition.ndjson", 3): "code-format:code",
        ("Condition.ndjson", 5): "unknown-patient:subject",  # another server's patient
    }
    assert dict(r.reasons) == {
        "nir-key:nir": 1,
        "code-format:code": 2,
        "patient-quarantined:subject": 2,
        "unknown-patient:subject": 2,
    }
    by_kind = {k.kind: (k.rows, k.where) for k in reasons_by_kind(r.reasons)}  # stewards see
    assert by_kind == {
        "code-format": (2, [("code", 2)]),
        "patient-quarantined": (2, [("subject", 2)]),
        "unknown-patient": (2, [("subject", 2)]),
        "nir-key": (1, [("nir", 1)]),
    }


@pytest.mark.parametrize(
    ("system", "kind"),
    [
        ("urn:oid:1.2.250.1.213.1.4.8", "INS-NIR"),
        ("urn:oid:1.2.250.1.213.1.4.9", "INS-NIA"),
        ("urn:oid:1.2.250.1.213.1.4.10", "INS-NIR-TEST"),
        ("urn:oid:1.2.250.1.213.1.4.11", "INS-NIR-DEMO"),
    ],
)
def test_the_ins_under_its_official_systems_gives_the_linkable_pseudonym(
    tmp_path: Path, system: str, kind: str
) -> None:
    nir = with_key("1850575123456")
    r = ingest_export(tmp_path, {"Patient": [french_patient("p", nir[:13], system=system)]})
    [row] = table(r, "patient").to_pylist()
    assert row["ins_kind"] == kind
    assert row["person_id"] == pseudonym(KEY, nir, "1985-05-12", "1")  # as CSV sources give it


def test_ins_nir_wins_over_nia_and_an_old_ins_is_skipped(tmp_path: Path) -> None:
    nir, nia = with_key("1850575123456"), with_key("1850599999001")
    p = french_patient("p", nir[:13])
    p["identifier"] = [
        {"use": "old", "system": INS_NIR, "value": with_key("2850575123456")},
        {"use": "temp", "system": "urn:oid:1.2.250.1.213.1.4.9", "value": nia},
        {"use": "official", "system": INS_NIR, "value": nir},
    ]
    r = ingest_export(tmp_path, {"Patient": [p]})
    [row] = table(r, "patient").to_pylist()
    assert (row["ins_kind"], row["person_id"]) == (
        "INS-NIR",
        pseudonym(KEY, nir, "1985-05-12", "1"),
    )


@pytest.mark.parametrize(
    "system",
    [
        "urn:oid:1.2.250.1.213.1.4.80",  # one digit more
        "urn:oid:1.2.250.1.213.1.4.8 ",  # a trailing blank
        "urn:oid:1.2.250.1.213.1.4.８",  # a full-width digit
        "http://hospital.example/nir",
    ],
)
def test_a_nir_under_another_system_is_no_ins_and_never_written(
    tmp_path: Path, system: str
) -> None:
    nir = with_key("1850575123456")
    patient = french_patient("p", nir[:13], system=system)
    patient["identifier"] = patient["identifier"][1:]  # the NIR-like value is its only one
    r = ingest_export(tmp_path, {"Patient": [patient]})
    [row] = table(r, "patient").to_pylist()
    assert row["ins_kind"] is None
    assert row["person_id"] != pseudonym(KEY, nir, "1985-05-12", "1")  # a local pseudonym
    text = _all_output_text(tmp_path / "hub")
    assert nir not in text and nir[:13] not in text


def test_an_ins_with_a_wrong_key_is_refused_and_kept_as_shape_only(tmp_path: Path) -> None:
    patient = french_patient("p", "1850575123456")
    wrong = patient["identifier"][1]["value"][:13] + "00"
    patient["identifier"][1]["value"] = wrong
    r = ingest_export(tmp_path, {"Patient": [patient]})
    [row] = read_files(r.quarantine_files).to_pylist()
    assert row["_reason"] == "nir-key:nir" and row["person_id"] is None
    assert set(row["nir"]) == {"9"} and wrong not in _all_output_text(tmp_path / "hub")


def test_a_patient_with_no_identifier_at_all_is_refused(tmp_path: Path) -> None:
    patient = french_patient("p", "1850575123456")
    del patient["identifier"]
    r = ingest_export(
        tmp_path,
        {"Patient": [patient], "Condition": [condition("c", "Patient/p", [])]},
    )
    assert _quarantine(r) == {
        ("Patient.ndjson", 0): "no-identity",
        ("Condition.ndjson", 0): "missing:code;patient-quarantined:subject",
    }


def test_the_r4_fixtures_are_the_published_examples() -> None:
    """The fixtures name the published example they copy (README) and keep its ids."""
    readme = (Path(__file__).parent / "fixtures" / "fhir_r4" / "README.md").read_text()
    for rtype, items in r4_examples().items():
        for item in items:
            assert re.search(rf"`{rtype}/{re.escape(item['id'])}`", readme), (rtype, item["id"])


def test_a_resource_without_a_subject_is_missing_it_once(tmp_path: Path) -> None:
    res = condition("c", "Patient/p", [{"system": SNOMED, "code": "39065001"}])
    del res["subject"]
    r = ingest_export(
        tmp_path, {"Patient": [french_patient("p", "1850575123456")], "Condition": [res]}
    )
    assert _quarantine(r) == {("Condition.ndjson", 0): "missing:subject"}
