"""``/hub/replicas/{name}`` given a name no replica can have (found by the attacker): the
name went into the audit log before it was checked, so any signed-in user could append
events of tens of kilobytes at will (a researcher's refusal is audited)."""

from __future__ import annotations

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
