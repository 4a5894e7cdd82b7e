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


def test_a_replica_is_proven_and_an_exit_drilled_through_http(api: Api, tmp_path: Path) -> None:
    api.add_user("otto", "operator")
    body = {"name": "ovh-gra", "url": f"file://{tmp_path / 'replica'}"}
    api.ok("POST", "/hub/replicas", "otto", json=body)
    api.hub.store().put("datasets/d/x.bin", b"x" * 9, size=9)
    assert_error(api.post("/hub/replicas/ovh-gra/verify", "rita"), 403, "permission_denied")
    assert_error(api.post("/hub/replicas/ovh-gra/exit-drill", "aude"), 403, "permission_denied")
    assert_error(api.post("/hub/replicas/ovh-gra/exit-drill", None), 401, "unauthenticated")
    assert_error(api.post("/hub/replicas/nope/verify", "otto"), 404, "not_found")
    assert_error(
        api.post("/hub/replicas/" + "x" * 5000 + "/verify", "otto"), 422, "invalid_request"
    )

    drill = api.ok("POST", "/hub/replicas/ovh-gra/exit-drill", "otto")
    assert drill["ready"] is True and drill["hub_unchanged"] is True, drill
    assert drill["objects"] == 1 and drill["bytes"] == 9
    assert {limit["rule"] for limit in drill["limits"]} >= {
        "Art. 25(2)(a) notice",
        "Art. 29 switching charges",
    }
    proof = api.ok("POST", "/hub/replicas/ovh-gra/verify", "aude")  # auditors may prove
    assert proof["ok"] is True, proof
    shallow = api.ok("POST", "/hub/replicas/ovh-gra/verify", "otto", params={"deep": "false"})
    assert shallow["ok"] is True
    (tmp_path / "replica" / "datasets" / "d" / "x.bin").write_bytes(b"y" * 9)  # tampered there
    broken = api.ok("POST", "/hub/replicas/ovh-gra/verify", "aude")
    assert broken["ok"] is False, broken
    listed = api.ok("GET", "/hub/replicas", "aude")
    assert listed[0]["name"] == "ovh-gra"
