"""A quarantine is never granted, extracted nor read, even through a grant an old hub holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from passerelle import hub as H
from passerelle.errors import NotFoundError, PermissionDeniedError, SandboxViolation
from passerelle.hub.ingestion import extract_dataset, ingest_dataset
from passerelle.hub.tables import AuditEvent, Dataset, Grant
from passerelle.synth import synthesize
from passerelle.workspace import run_query
from tests.hub.conftest import Cast, approved_project

QUARANTINE = "pmsi_stays_quarantine"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synthesize(out, persons=200, seed=11, defect_rate=0.05, fhir_fraction=0.2)
    return out


def _ingested(c: Cast, src: Path) -> int:
    report = ingest_dataset(
        c.hub,
        c.steward,
        dataset="pmsi_stays",
        organization="750712184",
        source_url=f"file://{src}/stays.csv",
        schema="pmsi_stays",
    )
    assert (QUARANTINE, 1) in report.datasets
    pid = approved_project(c)
    H.create_grant(c.hub, c.steward, pid, "pmsi_stays")
    return pid


def _legacy_grant(c: Cast, project_id: int, dataset: str) -> None:
    """What a hub from before the rule may hold: a grant row nobody could make now."""
    with c.hub.transaction() as session:
        d = session.execute(select(Dataset).where(Dataset.name == dataset)).scalar_one()
        session.add(
            Grant(
                project_id=project_id,
                dataset_id=d.id,
                columns=None,
                granted_by=c.steward2.user_id,
                granted_at=c.hub.now(),
                expires_on=c.hub.now().date().replace(month=12, day=31),
                revoked_at=None,
                revoked_by=None,
            )
        )


def _events(c: Cast, action: str) -> list[tuple[str, dict[str, object]]]:
    with c.hub.db.read() as session:
        rows = session.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars()
        return [(e.decision, json.loads(e.details)) for e in rows]


def test_a_steward_cannot_grant_a_quarantine(cast: Cast, sources: Path) -> None:
    pid = _ingested(cast, sources)
    with pytest.raises(PermissionDeniedError, match=r"quarantine .*never granted"):
        H.create_grant(cast.hub, cast.steward, pid, QUARANTINE)
    with pytest.raises(PermissionDeniedError, match="never granted"):
        H.create_grant(cast.hub, cast.steward, pid, QUARANTINE, columns=["x"])
    refused = [d for verdict, d in _events(cast, "grant.create") if verdict == "denied"]
    assert refused and "never granted" in str(refused[-1]["reason"])
    assert [g.dataset for g in H.list_grants(cast.hub, cast.steward, pid)] == ["pmsi_stays"]


def test_nor_extract_it_into_a_project(cast: Cast, sources: Path) -> None:
    pid = _ingested(cast, sources)
    with pytest.raises(PermissionDeniedError, match="never granted"):
        extract_dataset(cast.hub, cast.steward, pid, QUARANTINE)
    store = cast.hub.store()
    assert not list(store.list(f"workspaces/project-{pid}/extracts/{QUARANTINE}/"))


def test_an_old_grant_opens_nothing(cast: Cast, sources: Path) -> None:
    pid = _ingested(cast, sources)
    _legacy_grant(cast, pid, QUARANTINE)
    with pytest.raises(SandboxViolation):
        run_query(cast.hub, cast.alice, pid, f"SELECT * FROM {QUARANTINE}")
    with pytest.raises(SandboxViolation):
        run_query(cast.hub, cast.alice, pid, f'SELECT count(*) AS n FROM "{QUARANTINE}"')
    # the project's real grant still works, and the old one is not shown as active
    _, counted = run_query(cast.hub, cast.alice, pid, "SELECT count(*) AS n FROM pmsi_stays")
    assert counted.column("n")[0].as_py() > 0
    grants = {g.dataset: g.active for g in H.list_grants(cast.hub, cast.alice, pid)}
    assert grants == {"pmsi_stays": True, QUARANTINE: False}
    # nor does it show the entry to the researcher; the refusal is audited
    with pytest.raises(NotFoundError):
        H.get_dataset(cast.hub, cast.alice, QUARANTINE)
    assert QUARANTINE not in {d.name for d in H.list_datasets(cast.hub, cast.alice).items}
    denied = [d for verdict, d in _events(cast, "dataset.read-data") if verdict == "denied"]
    assert denied and denied[-1]["quarantine"] is True and denied[-1]["reason"]


def test_a_quarantine_made_visible_stays_closed(cast: Cast, sources: Path) -> None:
    pid = _ingested(cast, sources)
    _legacy_grant(cast, pid, QUARANTINE)
    H.update_dataset(cast.hub, cast.steward, QUARANTINE, discoverable=True)
    assert QUARANTINE not in {d.name for d in H.list_datasets(cast.hub, cast.alice).items}
    with pytest.raises(SandboxViolation):
        run_query(cast.hub, cast.alice, pid, f"SELECT * FROM {QUARANTINE}")


def test_quarantine_files_under_another_name_are_still_a_quarantine(
    cast: Cast, sources: Path
) -> None:
    """A steward registers the quarantine's files as a new, innocently named dataset."""
    pid = _ingested(cast, sources)
    quarantine = H.list_versions(cast.hub, cast.steward, QUARANTINE)[-1]
    H.create_dataset(
        cast.hub,
        cast.steward,
        name="stays_review",
        organization="750712184",
        classification="health-pseudonymized",
        schema=[],
    )
    H.add_version(
        cast.hub,
        cast.steward,
        "stays_review",
        digest="copy",
        schema=[],
        row_count=1,
        files=quarantine.files,
    )
    H.update_dataset(
        cast.hub, cast.steward, "stays_review", locations=["file:///srv/reviews/stays"]
    )
    with pytest.raises(PermissionDeniedError, match="never granted"):
        H.create_grant(cast.hub, cast.steward, pid, "stays_review")
    _legacy_grant(cast, pid, "stays_review")
    with pytest.raises(SandboxViolation):
        run_query(cast.hub, cast.alice, pid, "SELECT * FROM stays_review")
