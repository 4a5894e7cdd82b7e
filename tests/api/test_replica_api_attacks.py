"""``/hub/replicas/{name}`` given a name no replica can have (found by the attacker): the
name went into the audit log before it was checked, so any signed-in user could append
events of tens of kilobytes at will (a researcher's refusal is audited)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from passerelle.hub.tables import AuditEvent
from tests.api.conftest import SQLITE_ONLY, Api, assert_error

pytestmark = SQLITE_ONLY


def _longest_target(api: Api) -> int:
    with api.hub.db.read() as session:
        return int(session.execute(select(func.max(func.length(AuditEvent.target)))).scalar_one())


def test_a_name_no_replica_can_have_is_refused_before_it_is_audited(api: Api) -> None:
    api.add_user("otto", "operator")
    before = _longest_target(api)
    for who in ("rita", "otto"):
        for name in ("x" * 20_000, "é" * 64, "a%0Ab", "UPPER"):
            response = api.call("DELETE", f"/hub/replicas/{name}", who)
            assert_error(response, 422, "invalid_request")
            assert "Traceback" not in response.text
    assert _longest_target(api) == before
    assert_error(api.call("DELETE", "/hub/replicas/paris", "rita"), 403, "permission_denied")
    assert_error(api.call("DELETE", "/hub/replicas/paris", "otto"), 404, "not_found")


def test_one_proof_or_drill_of_a_replica_at_a_time(api: Api, tmp_path: Path) -> None:
    """An auditor posting deep proofs again and again (each re-reads the whole replica,
    hours on a big one) holds one long-call thread at most: while a pass, proof or drill
    runs on the replica's journal, another is refused in one sentence, not queued."""
    from passerelle.live.replica import ReplicaTarget, primary_url, replica_statuses
    from passerelle.live.replica_passes import _journal_path
    from passerelle.migration.runner import JournalLock

    api.add_user("otto", "operator")
    body = {"name": "paris", "url": f"file://{tmp_path / 'replica'}"}
    api.ok("POST", "/hub/replicas", "otto", json=body)
    api.hub.store().put("datasets/d/x.bin", b"x" * 9, size=9)
    api.ok("POST", "/hub/replicas/paris/exit-drill", "otto")  # a pass: the journal exists
    status = next(s for s in replica_statuses(api.hub) if s.name == "paris")
    target = ReplicaTarget(status.id, status.name, status.url)
    with JournalLock(_journal_path(api.hub, target, primary_url(api.hub))):
        for who, path in (("aude", "verify"), ("otto", "verify"), ("otto", "exit-drill")):
            response = api.post(f"/hub/replicas/paris/{path}", who)
            assert_error(response, 422, "invalid_request")
            assert "running on this journal" in response.text
    assert api.ok("POST", "/hub/replicas/paris/verify", "aude")["ok"]


def test_an_operator_cannot_point_a_replica_or_a_move_at_any_folder(
    api: Api, tmp_path: Path
) -> None:
    """``--adopt`` on another application's folder would have its passes delete what the
    hub's store does not hold: a local folder outside the one holding the hub's directory
    is refused with one sentence (403), and nothing is written or deleted there."""
    api.add_user("otto", "operator")
    other = tmp_path.parent / f"{tmp_path.name}-other-app"
    other.mkdir()
    (other / "settings.conf").write_text("kept")
    body = {"name": "paris", "url": f"file://{other}", "adopt": True}
    response = api.call("POST", "/hub/replicas", "otto", json=body)
    assert_error(response, 403, "permission_denied")
    assert "destinations" in response.text and "Traceback" not in response.text
    body = {"destination_url": f"file://{other}/x"}
    response = api.call("POST", "/hub/migration/start", "otto", json=body)
    assert_error(response, 403, "permission_denied")
    assert sorted(p.name for p in other.iterdir()) == ["settings.conf"]
