"""Same person, same pseudonym in stays (CSV), claims (Parquet) and FHIR; rows add up."""

from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq

from passerelle.ingest import pseudonym
from tests.ingest.conftest import KEY, Ingested
from tests.ingest.helpers import table


def test_rows_in_equal_accepted_plus_quarantined(ingested: Ingested) -> None:
    rows = ingested.synth.rows
    for result, expected in (
        (ingested.stays, rows["stays"]),
        (ingested.claims, rows["claims"]),
        (ingested.fhir, sum(rows[t] for t in ("Patient", "Encounter", "Condition", "Observation"))),
    ):
        assert result.rows_in == expected
        assert result.rows_in == result.rows_accepted + result.rows_quarantined
        assert result.rows_quarantined > 0
        assert sum(t.rows for t in result.tables) == result.rows_accepted


def test_every_stay_carries_its_persons_pseudonym(ingested: Ingested) -> None:
    with (ingested.src / "stays.csv").open() as f:
        source = {r["stay_id"]: r for r in csv.DictReader(f)}
    out = table(ingested.stays, "pmsi_stays").to_pylist()
    assert out
    for row in out:
        s = source[row["stay_id"]]
        assert row["person_id"] == pseudonym(KEY, s["nir"], s["birth_date"], s["sex"])
        assert row["birth_date"] == s["birth_date"][:7]
        assert row["postcode"] == (
            ("2A" if s["postcode"] < "20200" else "2B")
            if s["postcode"].startswith("20")
            else s["postcode"][:3]
            if s["postcode"][:2] in ("97", "98")
            else s["postcode"][:2]
        )
        assert "nir" not in row and "last_name" not in row and "notes" not in row
        assert row["discharge_mode"] == s["discharge_mode"]  # declared safe free text


def test_three_sources_join_on_the_pseudonym(ingested: Ingested) -> None:
    persons = {}
    with (ingested.src / "persons.csv").open() as f:
        for p in csv.DictReader(f):
            persons[pseudonym(KEY, p["nir"], p["birth_date"], p["sex"])] = p
    stays = set(table(ingested.stays, "pmsi_stays").column("person_id").to_pylist())
    claims = set(table(ingested.claims, "dcir_claims").column("person_id").to_pylist())
    patients = table(ingested.fhir, "patient").column("person_id").to_pylist()
    encounters = set(table(ingested.fhir, "encounter").column("person_id").to_pylist())
    assert stays <= set(persons) and claims <= set(persons) and set(patients) <= set(persons)
    assert len(patients) == len(set(patients))
    linked = set(patients) & stays & claims
    assert len(linked) >= len(patients) // 2  # most FHIR patients also have stays and claims
    assert encounters <= set(patients)


def test_fhir_references_resolve_to_the_patients_pseudonym(ingested: Ingested) -> None:
    patients = {}
    for line in (ingested.src / "fhir" / "Patient.ndjson").read_text().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        nir = r["identifier"][0]["value"]
        sex = "1" if r["gender"] == "male" else "2"
        patients[r["id"]] = (nir, r["birthDate"], sex)
    encounters = {}
    for line in (ingested.src / "fhir" / "Encounter.ndjson").read_text().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        encounters[r["id"]] = r["subject"]["reference"].removeprefix("Patient/")
    out = table(ingested.fhir, "encounter").to_pylist()
    assert out
    for row in out:
        nir, birth, sex = patients[encounters[row["id"]]]
        assert row["person_id"] == pseudonym(KEY, nir, birth, sex)
        assert "subject" not in row


def test_claims_keep_order_and_types(ingested: Ingested) -> None:
    src = pq.read_table(ingested.src / "claims.parquet").to_pylist()
    out = table(ingested.claims, "dcir_claims")
    assert str(out.schema.field("care_date").type) == "date32[day]"
    assert str(out.schema.field("amount_eur").type) == "double"
    quarantined = ingested.claims.rows_quarantined
    good = [s for s in src if s["care_date"].year > 1900 and s["act_code"][0] != "#"]
    assert len(good) - out.num_rows <= quarantined
    expected = [pseudonym(KEY, s["nir"], s["birth_date"].isoformat(), str(s["sex"])) for s in src]
    assert set(out.column("person_id").to_pylist()) <= set(expected)
