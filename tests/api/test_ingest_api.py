"""Ingestion and project extracts through HTTP: stewards only, shipped schemas only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import SQLITE_ONLY, Api, assert_error
from tests.api.helpers import approved_project, ingest_body, org_body

pytestmark = SQLITE_ONLY


def test_a_steward_ingests_and_the_report_accounts_for_every_row(
    api: Api, synth_sources: Path
) -> None:
    api.ok("POST", "/organizations", "stella", json=org_body())
    response = api.post("/ingests", "stella", json=ingest_body(synth_sources))
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["rows_in"] == report["rows_accepted"] + report["rows_quarantined"] > 0
    assert report["rows_quarantined"] > 0 and report["reasons"]  # the planted defects
    assert ["pmsi_stays", 1] in report["datasets"] and report["reused"] is False
    entry = api.ok("GET", "/datasets/pmsi_stays", "stella")
    assert entry["row_count"] == report["rows_accepted"]
    assert "nir" not in {c["name"] for c in entry["schema"]}

    again = api.ok("POST", "/ingests", "stella", json=ingest_body(synth_sources))
    assert again["reused"] is True and again["version"] == report["version"]
    events = api.ok("GET", "/audit/events", "aude", params={"actor": "stella", "limit": 1000})
    assert sum(e["action"] == "ingest.run" for e in events["items"]) == 2


def test_fhir_and_parquet_sources(api: Api, synth_sources: Path) -> None:
    api.ok("POST", "/organizations", "stella", json=org_body())
    fhir = api.ok(
        "POST",
        "/ingests",
        "stella",
        json=ingest_body(
            synth_sources,
            dataset="fhir",
            source_url=f"file://{synth_sources}/fhir",
            schema="fhir_bulk",
            kind="fhir-ndjson",
        ),
    )
    assert {"fhir_patient", "fhir_encounter"} <= {name for name, _ in fhir["datasets"]}
    claims = api.ok(
        "POST",
        "/ingests",
        "stella",
        json=ingest_body(
            synth_sources,
            dataset="dcir_claims",
            source_url=f"file://{synth_sources}/claims.parquet",
            schema="dcir_claims",
            classification="health-pseudonymized",
            description="outpatient claims",
        ),
    )
    assert claims["datasets"][0] == ["dcir_claims", 1]


def test_researchers_and_auditors_cannot_ingest(api: Api, synth_sources: Path) -> None:
    api.ok("POST", "/organizations", "stella", json=org_body())
    for who in ("rita", "aude"):
        assert_error(
            api.post("/ingests", who, json=ingest_body(synth_sources)), 403, "permission_denied"
        )
    assert_error(api.get("/datasets/pmsi_stays", "stella"), 404, "not_found")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"schema": "/etc/passwd"}, 422, "invalid_request"),  # no server paths for schemas
        ({"schema": "pmsi_stays.toml"}, 422, "invalid_request"),
        ({"kind": "parquet"}, 422, "invalid_request"),  # not the schema's kind
        ({"source_url": "file:///nowhere/stays.csv"}, 404, "not_found"),
        ({"source_url": "not a url\x01"}, 422, "invalid_request"),
        ({"classification": "secret"}, 422, "invalid_request"),
        ({"dataset": "Bad Name!"}, 422, "invalid_request"),
    ],
)
def test_ingest_mistakes_are_one_sentence(
    api: Api, synth_sources: Path, change: dict[str, str], status: int, code: str
) -> None:
    api.ok("POST", "/organizations", "stella", json=org_body())
    body = {**ingest_body(synth_sources), **change}
    assert_error(api.post("/ingests", "stella", json=body), status, code)


def test_a_steward_extracts_a_project_copy(api: Api, synth_sources: Path) -> None:
    api.ok("POST", "/organizations", "stella", json=org_body())
    report = api.ok("POST", "/ingests", "stella", json=ingest_body(synth_sources))
    pid = approved_project(api)
    api.ok("POST", f"/projects/{pid}/grants", "simon", json={"dataset": "pmsi_stays"})
    assert_error(
        api.post(f"/projects/{pid}/extracts", "rita", json={"dataset": "pmsi_stays"}),
        403,
        "permission_denied",
    )
    sql = {"sql": "SELECT min(person_id) AS p FROM pmsi_stays"}
    before = api.ok("POST", f"/projects/{pid}/queries", "rita", json=sql)["rows"]
    extract = api.ok("POST", f"/projects/{pid}/extracts", "simon", json={"dataset": "pmsi_stays"})
    assert extract["project_id"] == pid and extract["rows"] == report["rows_accepted"]
    assert extract["prefix"] == f"workspaces/project-{pid}/extracts/pmsi_stays"
    assert extract["rekeyed_columns"] == ["person_id"]
    after = api.ok("POST", f"/projects/{pid}/queries", "rita", json=sql)["rows"]
    assert after != before  # the project now reads its own, re-keyed pseudonyms
    assert_error(
        api.post(f"/projects/{pid}/extracts", "simon", json={"dataset": "nothing"}),
        404,
        "not_found",
    )
