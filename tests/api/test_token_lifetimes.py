"""Token lifetimes: capped by the hub's ``token_days`` for everyone, never past the parent token."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from passerelle.hub.tables import Token
from tests.api.conftest import Api, assert_error


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _expires(issued: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(issued["token"]["expires_at"])


def _parent_of(api: Api, token_id: int) -> int | None:
    with api.hub.transaction() as session:
        return session.get_one(Token, token_id).parent_id


def test_no_one_gets_a_token_longer_than_token_days(api: Api) -> None:
    cap = api.hub.config.token_days
    for who in ("admin", "rita"):
        error = assert_error(
            api.post("/tokens", who, json={"days": cap + 1}), 422, "invalid_request"
        )
        assert f"1 to {cap} days" in error["message"]
    issued = api.ok("POST", "/tokens", "admin", json={})
    assert _expires(issued) <= api.hub.now() + timedelta(days=cap)
    assert api.client.get("/me", headers=_bearer(issued["secret"])).status_code == 200


def test_a_token_cannot_mint_a_token_that_outlives_it(api: Api) -> None:
    short = api.ok("POST", "/tokens", "rita", json={"label": "short", "days": 5})
    headers = _bearer(short["secret"])
    refused = api.client.post("/tokens", headers=headers, json={"days": 30})
    error = assert_error(refused, 422, "invalid_request")
    assert "cannot outlive it" in error["message"] and "at most 4 day(s)" in error["message"]
    child = api.client.post("/tokens", headers=headers, json={"label": "child"})
    assert child.status_code == 201, child.text
    assert _expires(child.json()) == _expires(short)  # the default is shortened, not refused
    assert _parent_of(api, child.json()["token"]["id"]) == short["token"]["id"]
    # an admin minting for someone else is bound by the admin's own token too
    admin_short = api.ok("POST", "/tokens", "admin", json={"days": 2})
    for_rita = api.client.post(
        "/tokens", headers=_bearer(admin_short["secret"]), json={"user": "rita"}
    )
    assert for_rita.status_code == 201 and _expires(for_rita.json()) == _expires(admin_short)


def test_lowering_token_days_shortens_tokens_already_issued(api: Api) -> None:
    assert api.get("/me", "rita").status_code == 200
    real_clock, real_config = api.hub.clock, api.hub.config
    api.hub.config = dataclasses.replace(real_config, token_days=10)
    api.hub.clock = lambda: real_clock() + timedelta(days=11)
    try:
        refused = api.get("/me", "rita")
        assert "expired" in assert_error(refused, 401, "unauthenticated")["message"]
    finally:
        api.hub.clock, api.hub.config = real_clock, real_config
    assert api.get("/me", "rita").status_code == 200


def test_revoking_a_token_revokes_the_tokens_minted_with_it(api: Api) -> None:
    laptop = api.ok("POST", "/tokens", "rita", json={"label": "laptop"})
    phone = api.client.post(
        "/tokens", headers=_bearer(laptop["secret"]), json={"label": "phone"}
    ).json()
    script = api.client.post(
        "/tokens", headers=_bearer(phone["secret"]), json={"label": "script"}
    ).json()
    assert api.client.get("/me", headers=_bearer(script["secret"])).status_code == 200
    api.ok("POST", f"/tokens/{laptop['token']['id']}/revoke", "rita")
    for secret in (laptop["secret"], phone["secret"], script["secret"]):
        assert_error(api.client.get("/me", headers=_bearer(secret)), 401, "unauthenticated")
    assert api.get("/me", "rita").status_code == 200  # the token it was minted with lives on
