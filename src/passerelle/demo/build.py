"""The demo's hub, built with the real library: a synthetic population's extracts
ingested, the cast of people with their tokens, a researcher's approved project and
the archive of older files the move will carry.

Both demos start here: ``run_live_demo`` moves it at once; ``serve_demo`` serves it
so that a person signs in as each role and does the move from the portal.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from passerelle.hub import Hub, Principal

__all__ = ["CAST", "DemoHub", "build_demo_hub"]

CAST = (
    ("claire", "steward", "Claire (data steward)"),
    ("marc", "steward", "Marc (data steward)"),
    ("rita", "researcher", "Rita (researcher)"),
    ("oscar", "output-checker", "Oscar (output checker)"),
    ("omar", "operator", "Omar (migration operator)"),
    ("aude", "auditor", "Aude (auditor)"),
)
"""(user, role, display name) of each person in the story, besides the admin."""


@dataclass
class DemoHub:
    hub: Hub
    who: dict[str, Principal]
    tokens: dict[str, str]  # each person's API token (the portal's sign-in)
    project: int
    source_url: str
    rows: tuple[int, int, int]  # rows in, accepted, quarantined
    later: Path  # a second extract, ingested during the move


def _cast(hub: Hub, admin_token: str) -> tuple[dict[str, Principal], dict[str, str]]:
    from passerelle import hub as H

    admin = H.authenticate(hub, admin_token)
    people, tokens = {"admin": admin}, {"admin": admin_token}
    for name, role, display in CAST:
        H.create_user(hub, admin, name, [role], display)
        tokens[name] = H.issue_token(hub, admin, user=name, label="demo").secret
        people[name] = H.authenticate(hub, tokens[name])
    return people, tokens


def build_demo_hub(
    workdir: Path,
    *,
    source_url: str | None = None,
    database: str | None = None,
    persons: int = 2000,
    seed: int = 2026,
    archive_objects: int = 200,
    archive_object_size: int = 64 * 1024,
    mark: Callable[[str], None] = lambda _: None,
) -> DemoHub:
    """Synthesize, create the hub on ``source_url`` (default ``workdir/cloud-a``) with its
    ``database`` (default SQLite in the hub folder), ingest, approve and grant a project,
    and fill the archive; ``mark`` hears each step."""
    from passerelle import hub as H
    from passerelle.hub.coverage import Coverage
    from passerelle.hub.ingestion import ingest_dataset
    from passerelle.synth import synthesize
    from passerelle.synth.extracts import STAY_FROM, STAY_TO

    workdir.mkdir(parents=True, exist_ok=True)
    source = source_url or f"file://{(workdir / 'cloud-a').resolve()}"
    incoming = workdir / "incoming"
    synthesize(incoming, persons=persons, seed=seed, defect_rate=0.01, fhir_fraction=0.3)
    later = workdir / "incoming-later"
    synthesize(
        later, persons=max(100, persons // 10), seed=seed + 1, defect_rate=0.01, sources=("stays",)
    )
    mark("synthesized a population and its hospital, claims and FHIR extracts")

    hub, issued = H.init_hub(
        workdir / "hub",
        store=source,
        name="demo-hub",
        database=database,
        settings={"catalog_country": "FRA"},  # its DCAT-AP catalog's spatial coverage
    )
    who, tokens = _cast(hub, issued.secret)
    H.create_organization(hub, who["claire"], "750712184", "AP-HP", "hospital")
    H.create_organization(hub, who["claire"], "CNAM", "Assurance Maladie", "insurer")
    rows = (0, 0, 0)
    for name, file, schema, org in (
        ("pmsi_stays", "stays.csv", "pmsi_stays", "750712184"),
        ("dcir_claims", "claims.parquet", "dcir_claims", "CNAM"),
        ("fhir", "fhir", "fhir_bulk", "750712184"),
    ):
        report = ingest_dataset(
            hub,
            who["claire"],
            dataset=name,
            organization=org,
            source_url=f"file://{(incoming / file).resolve()}",
            schema=schema,
        )
        rows = (
            rows[0] + report.rows_in,
            rows[1] + report.rows_accepted,
            rows[2] + report.rows_quarantined,
        )
    covers = Coverage(date.fromisoformat(STAY_FROM), date.fromisoformat(STAY_TO))
    for name in ("pmsi_stays", "dcir_claims"):  # the period the steward knows they cover
        H.update_dataset(hub, who["claire"], name, covers=covers)
    mark("ingested three sources: pseudonymized, validated, catalogued")

    today = hub.now().date()
    project = H.submit_project(
        hub,
        who["rita"],
        title="Diabetes care pathways",
        purpose="Hospital and outpatient care",
        legal_basis="MR-004",
        authorization_ref="CNIL-DR-2026-042",
        start=today,
        end=today + timedelta(days=365),
    ).id
    H.change_status(hub, who["claire"], project, "approve")
    for name in ("pmsi_stays", "dcir_claims", "fhir_patient"):
        H.create_grant(hub, who["claire"], project, name)
    mark("a researcher's project was approved and granted three datasets")
    if archive_objects:
        noise = random.Random(seed)
        store = hub.store_at("archive")
        for i in range(archive_objects):
            body = noise.randbytes(archive_object_size)
            store.put(f"imaging/{i:05d}.bin", body, size=len(body))
        mark(f"the hub also holds {archive_objects} archived files (older extracts, imaging)")
    return DemoHub(hub, who, tokens, project, source, rows, later)
