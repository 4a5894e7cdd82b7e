"""401 for every way a token can be wrong, with ``WWW-Authenticate: Bearer``; each refusal audited."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api.conftest import SQLITE_ONLY, Api, assert_error


def _unauthorized(api: Api, headers: dict[str, str]) -> dict[str, object]:
    response = api.client.get("/me", headers=headers)
    error = assert_error(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    return error


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({}, "no valid API token"),
        ({"Authorization": "Basic YWRtaW46YWRtaW4="}, "no valid API token"),
        ({"Authorization": "Bearer"}, "no valid API token"),
        ({"Authorization": "Bearer not-a-token"}, "no valid API token"),
        ({"Authorization": "Bearer pst_unknown"}, "unknown"),
    ],
    ids=["missing", "basic", "empty", "malformed", "unknown"],
)
def test_missing_or_unknown_tokens_are_401(api: Api, headers: dict[str, str], says: str) -> None:
    assert says in str(_unauthorized(api, headers)["message"])


def test_a_token_works_until_revoked(api: Api) -> None:
    me = api.ok("GET", "/me", "rita")
    assert me["name"] == "rita" and me["roles"] == ["researcher"]
    issued = api.ok("POST", "/tokens", "rita", json={"label": "laptop", "days": 7})
    assert issued["secret"].startswith("pst_") and issued["token"]["user"] == "rita"
    laptop = {"Authorization": f"Bearer {issued['secret']}"}
    assert api.client.get("/me", headers=laptop).status_code == 200
    revoked = api.ok("POST", f"/tokens/{issued['token']['id']}/revoke", "rita")
    assert revoked["revoked"] is True
    assert "revoked" in str(_unauthorized(api, laptop)["message"])
    listed = api.ok("GET", "/tokens", "rita")["items"]
    assert {t["label"]: t["revoked"] for t in listed} == {"tests": False, "laptop": True}
    assert all("secret" not in t for t in listed)


def test_an_expired_token_is_401(api: Api) -> None:
    issued = api.ok("POST", "/tokens", "rita", json={"days": 1})
    headers = {"Authorization": f"Bearer {issued['secret']}"}
    real = api.hub.clock
    api.hub.clock = lambda: real() + timedelta(days=2)
    try:
        assert "expired" in str(_unauthorized(api, headers)["message"])
    finally:
        api.hub.clock = real


def test_a_disabled_users_tokens_stop_at_once(api: Api) -> None:
    assert api.get("/me", "remy").status_code == 200
    api.ok("PATCH", "/users/remy", "admin", json={"active": False})
    assert "disabled" in str(_unauthorized(api, api.headers("remy"))["message"])
    api.ok("PATCH", "/users/remy", "admin", json={"active": True})
    assert api.get("/me", "remy").status_code == 200


def test_refused_tokens_are_audited(api: Api) -> None:
    _unauthorized(api, {"Authorization": "Bearer pst_forged"})
    events = api.ok("GET", "/audit/events", "aude", params={"actor": "anonymous"})["items"]
    assert events and events[-1]["action"] == "auth.token"
    assert events[-1]["decision"] == "denied"


def test_health_needs_no_token(api: Api) -> None:
    body = api.ok("GET", "/health", None)
    assert body["status"] == "ok"
    assert body["database"] == api.hub.db.dialect


def test_tokens_of_others_are_admin_business(api: Api) -> None:
    """To anyone but an admin, another user's tokens are "not found", like a missing user's."""
    assert_error(api.get("/tokens", "rita", params={"user": "remy"}), 404, "not_found")
    assert api.ok("GET", "/tokens", "admin", params={"user": "remy"})["total"] == 1
    other = api.ok("GET", "/tokens", "admin", params={"user": "remy"})["items"][0]["id"]
    assert_error(api.post(f"/tokens/{other}/revoke", "rita"), 404, "not_found")
    assert_error(api.post("/tokens", "rita", json={"user": "remy"}), 404, "not_found")
    assert api.get("/me", "remy").status_code == 200
