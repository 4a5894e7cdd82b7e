"""``GET /ingests``: the record of ingestions with counts and reasons by kind, for
stewards, admins and auditors; ``GET /projects?status=``: a steward's "to approve"."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.api.conftest import Api, assert_error
from tests.api.helpers import ingest_body, org_body, project_body


def test_each_ingest_is_recorded_with_its_counts_and_reasons(api: Api, synth_sources: Path) -> None:
    api.ok("POST", "/organizations", "stella", json=org_body())
    report = api.ok("POST", "/ingests", "stella", json=ingest_body(synth_sources))
    again = api.ok("POST", "/ingests", "simon", json=ingest_body(synth_sources))
    runs = api.ok("GET", "/ingests", "stella")
    assert runs["total"] == 2
    newest, first = runs["items"]
    assert (newest["by"], newest["reused"], first["by"], first["reused"]) == (
        "simon",
        True,
        "stella",
        False,
    )
    assert first["rows_in"] == report["rows_in"]
    assert first["rows_accepted"] == report["rows_accepted"]
    assert first["rows_quarantined"] == report["rows_quarantined"] > 0
    assert [tuple(r) for r in first["reasons"]] == [tuple(r) for r in report["reasons"]]
    kinds = {k["kind"]: k["rows"] for k in first["by_kind"]}
    assert sum(kinds.values()) == sum(n for _, n in report["reasons"])
    assert set(first["datasets"]) == {"pmsi_stays", "pmsi_stays_quarantine"}
    assert first["source"] == f"file://{synth_sources}/stays.csv"
    assert again["version"] == report["version"]


def test_the_record_filters_by_source_or_catalog_name_and_pages(
    api: Api, synth_sources: Path
) -> None:
    api.ok("POST", "/organizations", "stella", json=org_body())
    api.ok("POST", "/ingests", "stella", json=ingest_body(synth_sources, dataset="a_b"))
    api.ok("POST", "/ingests", "stella", json=ingest_body(synth_sources, dataset="axb"))
    fhir = ingest_body(
        synth_sources,
        dataset="fhir",
        source_url=f"file://{synth_sources}/fhir",
        schema="fhir_bulk",
        kind="fhir-ndjson",
    )
    api.ok("POST", "/ingests", "stella", json=fhir)

    def names(**params: object) -> list[str]:
        return [r["dataset"] for r in api.ok("GET", "/ingests", "aude", params=params)["items"]]

    assert names(dataset="a_b") == ["a_b"]  # "_" is not a wildcard
    assert names(dataset="a%") == []  # nor is "%"
    assert names(dataset="fhir_patient") == ["fhir"]  # a catalog entry the run registered
    assert names(dataset="axb_quarantine") == ["axb"]
    assert names(dataset="fhir_pat") == []  # whole names only
    assert names(limit=1, offset=1) == ["axb"]


def test_researchers_may_not_read_the_record_and_bad_filters_are_sentences(
    api: Api,
) -> None:
    assert_error(api.get("/ingests", "rita"), 403, "permission_denied")
    assert_error(api.get("/ingests", None), 401, "unauthenticated")
    assert api.ok("GET", "/ingests", "admin")["items"] == []
    for bad in ({"dataset": "a/b"}, {"dataset": "x" * 65}, {"dataset": "\x00"}, {"limit": 0}):
        assert_error(api.get("/ingests", "stella", params=bad), 422, "invalid_request")


def test_a_markup_source_path_is_recorded_as_given(
    api: Api, synth_sources: Path, tmp_path: Path
) -> None:
    odd = tmp_path / "x<img src=x onerror=alert(1)>.csv"
    shutil.copy(synth_sources / "stays.csv", odd)
    api.ok("POST", "/organizations", "stella", json=org_body())
    api.ok("POST", "/ingests", "stella", json=ingest_body(tmp_path, source_url=f"file://{odd}"))
    assert api.ok("GET", "/ingests", "stella")["items"][0]["source"] == f"file://{odd}"


def test_projects_filter_by_status(api: Api) -> None:
    first = api.ok("POST", "/projects", "rita", json=project_body(api, "One"))["id"]
    api.ok("POST", "/projects", "rita", json=project_body(api, "Two"))
    api.ok("POST", f"/projects/{first}/approve", "simon")
    waiting = api.ok("GET", "/projects", "stella", params={"status": "submitted"})
    assert [p["title"] for p in waiting["items"]] == ["Two"] and waiting["total"] == 1
    assert api.ok("GET", "/projects", "rita", params={"status": "approved"})["total"] == 1
    assert api.ok("GET", "/projects", "remy", params={"status": "submitted"})["total"] == 0
    assert_error(
        api.get("/projects", "stella", params={"status": "pending"}), 422, "invalid_request"
    )
