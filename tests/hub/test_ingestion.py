"""Ingestion through the hub: catalog versions, linkage, quarantine, extracts, no leaks."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest

from passerelle import hub as H
from passerelle.errors import PermissionDeniedError
from passerelle.hub.ingestion import (
    IngestReport,
    extract_dataset,
    ingest_dataset,
    source_allowed,
)
from passerelle.synth import synthesize
from passerelle.workspace import run_query
from tests.hub.conftest import Cast, approved_project


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synthesize(out, persons=400, seed=7, defect_rate=0.05, fhir_fraction=0.5)
    return out


def ingest_all(c: Cast, src: Path) -> dict[str, IngestReport]:
    reports = {}
    for name, url, schema in (
        ("pmsi_stays", f"file://{src}/stays.csv", "pmsi_stays"),
        ("dcir_claims", f"file://{src}/claims.parquet", "dcir_claims"),
        ("fhir", f"file://{src}/fhir", "fhir_bulk"),
    ):
        reports[name] = ingest_dataset(
            c.hub, c.steward, dataset=name, organization="750712184", source_url=url, schema=schema
        )
    return reports


def test_three_sources_land_in_the_catalog_and_link(cast: Cast, sources: Path) -> None:
    reports = ingest_all(cast, sources)
    for report in reports.values():
        assert report.rows_in == report.rows_accepted + report.rows_quarantined
        assert report.rows_quarantined > 0  # the planted defects
    names = {d.name for d in H.list_datasets(cast.hub, cast.steward).items}
    assert {"pmsi_stays", "dcir_claims", "fhir_patient", "fhir_encounter"} <= names
    quarantine = H.get_dataset(cast.hub, cast.steward, "pmsi_stays_quarantine")
    assert quarantine.row_count == reports["pmsi_stays"].rows_quarantined
    assert not quarantine.discoverable
    assert "pmsi_stays_quarantine" not in {
        d.name for d in H.list_datasets(cast.hub, cast.alice).items
    }
    pid = approved_project(cast)
    for name in ("pmsi_stays", "dcir_claims", "fhir_patient"):
        H.create_grant(cast.hub, cast.steward, pid, name)
    _, linked = run_query(
        cast.hub,
        cast.alice,
        pid,
        "SELECT count(DISTINCT s.person_id) AS both_sources FROM pmsi_stays s "
        "JOIN dcir_claims c USING (person_id)",
    )
    _, fhir = run_query(
        cast.hub,
        cast.alice,
        pid,
        "SELECT count(*) AS n FROM fhir_patient p JOIN pmsi_stays s ON s.person_id = p.person_id",
    )
    assert linked.column("both_sources")[0].as_py() > 100
    assert fhir.column("n")[0].as_py() > 0
    again = ingest_dataset(
        cast.hub,
        cast.steward,
        dataset="pmsi_stays",
        organization="750712184",
        source_url=f"file://{sources}/stays.csv",
        schema="pmsi_stays",
    )
    assert again.reused and again.datasets == [("pmsi_stays", 1), ("pmsi_stays_quarantine", 1)]
    assert [v.version for v in H.list_versions(cast.hub, cast.steward, "pmsi_stays")] == [1]


def test_nothing_identifying_reaches_the_hub_store(cast: Cast, sources: Path) -> None:
    ingest_all(cast, sources)
    with (sources / "persons.csv").open() as handle:
        people = list(csv.DictReader(handle))
    secrets = {p["nir"] for p in people} | {
        p["last_name"] for p in people if len(p["last_name"]) > 5
    }
    store = cast.hub.store()
    blobs = [store.get(i.key).read() for i in store.list("datasets/")]
    assert blobs
    for blob in blobs:
        for secret in secrets:
            assert secret.encode() not in blob


def test_extracts_of_two_projects_do_not_join(cast: Cast, sources: Path) -> None:
    ingest_all(cast, sources)
    pa_id, pb_id = approved_project(cast, by=cast.alice), approved_project(cast, by=cast.bob)
    for pid in (pa_id, pb_id):
        H.create_grant(cast.hub, cast.steward, pid, "pmsi_stays")
        H.create_grant(cast.hub, cast.steward, pid, "dcir_claims")
        extract_dataset(cast.hub, cast.steward, pid, "pmsi_stays")
        extract_dataset(cast.hub, cast.steward, pid, "dcir_claims")
    sql = "SELECT DISTINCT person_id FROM pmsi_stays ORDER BY 1"
    _, a = run_query(cast.hub, cast.alice, pa_id, sql)
    _, b = run_query(cast.hub, cast.bob, pb_id, sql)
    assert a.num_rows == b.num_rows > 0
    assert not set(a.column("person_id").to_pylist()) & set(b.column("person_id").to_pylist())
    _, inside = run_query(  # inside one project the extracts still link
        cast.hub,
        cast.alice,
        pa_id,
        "SELECT count(DISTINCT person_id) AS n FROM pmsi_stays JOIN dcir_claims USING (person_id)",
    )
    assert inside.column("n")[0].as_py() > 100
    with pytest.raises(PermissionDeniedError):
        extract_dataset(cast.hub, cast.alice, pa_id, "pmsi_stays")


def test_only_stewards_ingest(cast: Cast, sources: Path) -> None:
    with pytest.raises(PermissionDeniedError):
        ingest_dataset(
            cast.hub,
            cast.alice,
            dataset="x_stays",
            organization="750712184",
            source_url=f"file://{sources}/stays.csv",
            schema="pmsi_stays",
        )


def test_source_allow_list_is_pure_and_blocks_traversal() -> None:
    prefixes = ("file:///srv/landing/", "az://landing@drop/")
    assert source_allowed((), "file:///etc/passwd")
    assert source_allowed(prefixes, "file:///srv/landing/aphp/stays.csv")
    assert source_allowed(prefixes, "/srv/landing/aphp/stays.csv")
    assert source_allowed(prefixes, "az://landing@drop/x.parquet")
    assert not source_allowed(prefixes, "file:///etc/passwd")
    assert not source_allowed(prefixes, "file:///srv/landing/../../etc/passwd")
    assert not source_allowed(prefixes, "file:///srv/landing-other/x.csv")
    assert not source_allowed(prefixes, "az://landing@drop-evil/x.parquet")
    assert not source_allowed(prefixes, "s3://other@bucket/x.csv")


def test_a_hub_with_an_allow_list_refuses_other_sources(cast: Cast, sources: Path) -> None:
    cast.hub.config = dataclasses.replace(
        cast.hub.config, ingest_sources=(f"file://{sources}/fhir/",)
    )
    with pytest.raises(PermissionDeniedError, match="ingest_sources"):
        ingest_dataset(
            cast.hub,
            cast.steward,
            dataset="pmsi_stays",
            organization="750712184",
            source_url=f"file://{sources}/stays.csv",
            schema="pmsi_stays",
        )
    report = ingest_dataset(
        cast.hub,
        cast.steward,
        dataset="fhir",
        organization="750712184",
        source_url=f"file://{sources}/fhir",
        schema="fhir_bulk",
    )
    assert report.rows_accepted > 0
