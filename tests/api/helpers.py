"""Builders for the catalog and project bodies the API tests send."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.api.conftest import Api


def org_body(code: str = "CHU-LYON") -> dict[str, Any]:
    return {"code": code, "name": "Hospices Civils de Lyon", "kind": "hospital"}


def dataset_body(name: str = "pmsi_mco", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "organization": "CHU-LYON",
        "classification": "health-pseudonymized",
        "description": "Hospital stays (PMSI MCO), pseudonymized",
        "schema": [
            {"name": "patient_pseudo", "type": "VARCHAR"},
            {"name": "age", "type": "INTEGER", "description": "age at admission"},
            {"name": "diag", "type": "VARCHAR"},
        ],
        **extra,
    }


def project_body(api: Api, title: str = "Sepsis outcomes", **extra: Any) -> dict[str, Any]:
    today = api.hub.now().date()
    return {
        "title": title,
        "purpose": "Study sepsis mortality after surgery.",
        "legal_basis": "GDPR 9.2.j",
        "authorization_ref": "CNIL DR-2026-042",
        "start": (today - timedelta(days=1)).isoformat(),
        "end": (today + timedelta(days=365)).isoformat(),
        **extra,
    }


def catalog(api: Api, *, discoverable: bool = True) -> None:
    """Stella registers CHU-LYON and the pmsi_mco dataset."""
    api.ok("POST", "/organizations", "stella", json=org_body())
    api.ok("POST", "/datasets", "stella", json=dataset_body(discoverable=discoverable))


def approved_project(api: Api, who: str = "rita", title: str = "Sepsis outcomes") -> int:
    """A project submitted by ``who`` and approved by Simon; its id."""
    project = api.ok("POST", "/projects", who, json=project_body(api, title))
    api.ok("POST", f"/projects/{project['id']}/approve", "simon")
    return int(project["id"])


def ingest_body(sources: Path, dataset: str = "pmsi_stays", **extra: Any) -> dict[str, Any]:
    """The body of ``POST /ingests`` for the synthetic hospital stays."""
    return {
        "dataset": dataset,
        "organization": "CHU-LYON",
        "source_url": f"file://{sources}/stays.csv",
        "schema": "pmsi_stays",
        **extra,
    }


def published_project(api: Api, sources: Path) -> int:
    """Stella ingests the synthetic stays; Rita's project is approved and granted them."""
    api.ok("POST", "/organizations", "stella", json=org_body())
    api.ok("POST", "/ingests", "stella", json=ingest_body(sources))
    pid = approved_project(api)
    api.ok("POST", f"/projects/{pid}/grants", "simon", json={"dataset": "pmsi_stays"})
    return pid
