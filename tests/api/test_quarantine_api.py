"""Quarantines through HTTP: a grant is refused, an old grant reads nothing, the entry is hidden."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from passerelle.hub.tables import Dataset, Grant
from tests.api.conftest import Api, assert_error
from tests.api.helpers import published_project

QUARANTINE = "pmsi_stays_quarantine"


def _old_grant(api: Api, project_id: int) -> None:
    """A grant of the quarantine as a hub from before the rule may hold one."""
    with api.hub.transaction() as session:
        d = session.execute(select(Dataset).where(Dataset.name == QUARANTINE)).scalar_one()
        session.add(
            Grant(
                project_id=project_id,
                dataset_id=d.id,
                columns=None,
                granted_by=1,
                granted_at=api.hub.now(),
                expires_on=api.hub.now().date(),
                revoked_at=None,
                revoked_by=None,
            )
        )


def test_a_quarantine_is_never_granted_nor_read(api: Api, synth_sources: Path) -> None:
    pid = published_project(api, synth_sources)
    assert api.ok("GET", f"/datasets/{QUARANTINE}", "stella")["discoverable"] is False
    for body in ({"dataset": QUARANTINE}, {"dataset": QUARANTINE, "columns": ["_reason"]}):
        refused = assert_error(
            api.post(f"/projects/{pid}/grants", "simon", json=body), 403, "permission_denied"
        )
        assert "never granted" in refused["message"]

    _old_grant(api, pid)
    for sql in (f"SELECT * FROM {QUARANTINE}", f'SELECT count(*) FROM "{QUARANTINE}"'):
        response = api.post(f"/projects/{pid}/queries", "rita", json={"sql": sql})
        assert_error(response, 403, "permission_denied")
        assert "_reason" not in response.text
    counted = api.ok(
        "POST",
        f"/projects/{pid}/queries",
        "rita",
        json={"sql": "SELECT count(*) AS n FROM pmsi_stays"},
    )
    assert counted["rows"][0][0] > 0  # the project's real grant still works
    assert_error(api.get(f"/datasets/{QUARANTINE}", "rita"), 404, "not_found")
    listed = api.ok("GET", "/datasets", "rita", params={"limit": 100})
    assert QUARANTINE not in {d["name"] for d in listed["items"]}
    grants = api.ok("GET", f"/projects/{pid}/grants", "rita")
    items = grants["items"] if isinstance(grants, dict) else grants
    assert {g["dataset"]: g["active"] for g in items} == {"pmsi_stays": True, QUARANTINE: False}
