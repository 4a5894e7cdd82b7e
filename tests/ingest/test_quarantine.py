"""The quarantine holds exactly the rows the synthetic manifest says are defective, with reasons."""

from __future__ import annotations

import csv
from collections import Counter

from tests.ingest.conftest import Ingested
from tests.ingest.helpers import read_files


def _expected(ingested: Ingested, source: str) -> set[tuple[str, int, str]]:
    with (ingested.src / "defects.csv").open() as f:
        return {
            (d["file"].rsplit("/", 1)[-1], int(d["row"]), d["reason"])
            for d in csv.DictReader(f)
            if d["source"] == source
        }


def _found(result: object) -> set[tuple[str, int, str]]:
    q = read_files(result.quarantine_files)  # type: ignore[attr-defined]
    rows = q.select(["_source", "_row", "_reason"]).to_pylist()
    found = {(r["_source"].rsplit("/", 1)[-1], r["_row"], r["_reason"]) for r in rows}
    assert len(found) == len(rows)  # no row quarantined twice
    return found


def test_stays_quarantine_is_the_manifest(ingested: Ingested) -> None:
    expected = _expected(ingested, "stays")
    assert expected and _found(ingested.stays) == expected
    assert ingested.stays.rows_quarantined == len(expected)


def test_claims_quarantine_is_the_manifest(ingested: Ingested) -> None:
    expected = _expected(ingested, "claims")
    assert expected and _found(ingested.claims) == expected


def test_fhir_quarantine_is_the_manifest(ingested: Ingested) -> None:
    expected = _expected(ingested, "fhir")
    kinds = {e[2] for e in expected}
    assert kinds >= {"json", "code-format:code"}
    assert {"unknown-patient:subject", "patient-quarantined:subject"} & kinds
    assert _found(ingested.fhir) == expected


def test_reason_counts_add_up(ingested: Ingested) -> None:
    for result, source in (
        (ingested.stays, "stays"),
        (ingested.claims, "claims"),
        (ingested.fhir, "fhir"),
    ):
        counts = Counter(reason for _f, _r, reason in _expected(ingested, source))
        assert dict(result.reasons) == dict(counts)


def test_quarantine_rows_are_protected(ingested: Ingested) -> None:
    q = read_files(ingested.stays.quarantine_files).to_pylist()
    for row in q:
        assert set(row["nir"]) <= {"9", "x"}  # shape only
        assert set(row["last_name"]) == {"x"}
        assert row["notes"] in ("xxx", None) or set(row["notes"]) <= {"x", " "}
        if row["_reason"] != "nir-key:nir":
            assert row["person_id"] and len(row["person_id"]) == 64
        else:
            assert row["person_id"] is None
    broken = read_files(ingested.fhir.quarantine_files).to_pylist()
    texts = [r["_text"] for r in broken if r["_reason"] == "json"]
    assert texts and not any(ch.isalnum() and ch not in "x9" for t in texts for ch in t)
