"""``/hub/replicas`` through HTTP: who may add, read and remove a replica."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import SQLITE_ONLY, Api, assert_error

pytestmark = SQLITE_ONLY


def test_replicas_added_read_and_removed_by_role(api: Api, tmp_path: Path) -> None:
    api.add_user("otto", "operator")
    body = {"name": "ovh-gra", "url": f"file://{tmp_path / 'replica'}"}
    assert_error(api.post("/hub/replicas", "rita", json=body), 403, "permission_denied")
    assert_error(api.post("/hub/replicas", None, json=body), 401, "unauthenticated")
    added = api.ok("POST", "/hub/replicas", "otto", json=body)
    assert added["name"] == "ovh-gra" and added["lag_objects"] == 0
    api.hub.store().put("datasets/d/x.bin", b"x" * 9, size=9)
    listed = api.ok("GET", "/hub/replicas", "aude")  # auditors may read
    assert listed[0]["lag_objects"] == 1 and listed[0]["lag_bytes"] == 9
    assert_error(api.get("/hub/replicas", "rita"), 403, "permission_denied")
    for bad in ({**body, "name": "../x", "url": f"file://{tmp_path / 'r2'}"}, {**body}):
        response = api.post("/hub/replicas", "otto", json=bad)
        assert response.status_code in (400, 409, 422), response.text
        assert "Traceback" not in response.text
    assert_error(
        api.post("/hub/replicas", "otto", json={**body, "extra": 1}), 422, "invalid_request"
    )
    assert api.call("DELETE", "/hub/replicas/ovh-gra", "otto").status_code == 204
    assert_error(api.call("DELETE", "/hub/replicas/ovh-gra", "otto"), 404, "not_found")
    assert api.ok("GET", "/hub/replicas", "otto") == []
