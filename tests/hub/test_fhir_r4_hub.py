"""The HL7 R4 examples ingested through the hub: codes with their systems are queryable."""

from __future__ import annotations

from pathlib import Path

from passerelle import hub as H
from passerelle.hub.ingestion import ingest_dataset
from passerelle.workspace import run_query
from tests.hub.conftest import Cast, approved_project
from tests.ingest.fhir_export import r4_examples, write_export


def test_a_researcher_counts_the_r4_observations_by_code_system(cast: Cast, tmp_path: Path) -> None:
    src = write_export(tmp_path / "export", r4_examples())
    report = ingest_dataset(
        cast.hub,
        cast.steward,
        dataset="r4",
        organization="750712184",
        source_url=f"file://{src}",
        schema="fhir_bulk",
    )
    assert (report.rows_in, report.rows_quarantined) == (15, 3)
    assert dict(report.reasons) == {"missing:code": 1, "unknown-patient:subject": 2}
    names = {d.name for d in H.list_datasets(cast.hub, cast.steward).items}
    assert {"r4_patient", "r4_condition", "r4_observation", "r4_procedure"} <= names
    pid = approved_project(cast)
    H.create_grant(cast.hub, cast.steward, pid, "r4_observation")
    _, by_system = run_query(
        cast.hub,
        cast.alice,
        pid,
        "SELECT c.system AS system, count(*) AS codes "
        "FROM r4_observation, UNNEST(code) AS t(c) GROUP BY 1 ORDER BY 1",
    )
    assert by_system.to_pylist() == [
        {"system": "local", "codes": 3},
        {"system": "loinc", "codes": 7},
        {"system": "snomed-ct", "codes": 2},
    ]
