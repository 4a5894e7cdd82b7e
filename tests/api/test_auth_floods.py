"""A flood of bad tokens from one address: capped (429), audited as one event, nobody else held."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from passerelle.api import create_app
from passerelle.hub import Hub
from tests.api.conftest import Api, assert_error

FLOODER = ("203.0.113.7", 40000)
NEIGHBOUR = ("198.51.100.2", 40001)


def _auth_events(api: Api) -> list[dict[str, Any]]:
    items = api.ok("GET", "/audit/events", "aude", params={"actor": "anonymous", "limit": 1000})
    return [e for e in items["items"] if e["action"].startswith("auth.")]


def _later(api: Api, seconds: int) -> None:
    real = api.hub.clock
    api.hub.clock = lambda: real() + timedelta(seconds=seconds)


def test_a_flood_is_capped_and_written_as_one_event_with_its_count(api: Api) -> None:
    limit = api.hub.config.auth_failures
    flooder = TestClient(api.client.app, client=FLOODER)
    neighbour = TestClient(api.client.app, client=NEIGHBOUR)
    flood = 3 * limit
    statuses = []
    for i in range(flood):
        response = flooder.get("/me", headers={"Authorization": f"Bearer pst_guess{i}"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            error = assert_error(response, 429, "too_many_requests")
            assert "too many failed authentications from 203.0.113.7" in error["message"]
            assert 1 <= int(response.headers["retry-after"]) <= api.hub.config.auth_window_seconds
    assert statuses == [401] * limit + [429] * (flood - limit)
    # the flooder's address is refused even with a valid token: no guess is checked meanwhile
    assert flooder.get("/me", headers=api.headers("rita")).status_code == 429
    # another address is not held back, for a valid token nor for its own mistake
    assert neighbour.get("/me", headers=api.headers("rita")).status_code == 200
    assert neighbour.get("/me", headers={"Authorization": "Bearer pst_typo"}).status_code == 401
    during = _auth_events(api)
    assert [(e["action"], e["details"]["source"]) for e in during] == [
        ("auth.token", FLOODER[0]),
        ("auth.token", NEIGHBOUR[0]),
    ]
    _later(api, api.hub.config.auth_window_seconds + 1)
    assert neighbour.get("/me", headers=api.headers("rita")).status_code == 200
    floods = [e for e in _auth_events(api) if e["action"] == "auth.flood"]
    assert len(floods) == 1
    details = floods[0]["details"]
    assert details["source"] == FLOODER[0]
    assert details["failures"] == limit  # every refused token of the window, the first included
    assert details["throttled"] == flood - limit + 1  # the 429s, the valid token's included
    assert floods[0]["target"] == f"source:{FLOODER[0]}"
    assert len(_auth_events(api)) == 3  # 3 * limit + 3 attempts, 3 events
    # the window is over: the flooder's address is heard again
    assert flooder.get("/me", headers=api.headers("rita")).status_code == 200
    assert api.ok("GET", "/audit/verify", "aude")["ok"] is True


def test_floods_still_counting_are_written_at_shutdown(api: Api) -> None:
    hub: Hub = api.hub
    with TestClient(create_app(hub), client=FLOODER) as flooder:
        for i in range(5):
            assert (
                flooder.get("/me", headers={"Authorization": f"Bearer pst_x{i}"}).status_code == 401
            )
    floods = [e for e in _auth_events(api) if e["action"] == "auth.flood"]
    assert [e["details"]["failures"] for e in floods] == [5]
    assert api.ok("GET", "/audit/verify", "aude")["ok"] is True


def test_forwarded_headers_do_not_make_a_new_address(api: Api) -> None:
    """The limiter counts the connection's peer; headers a client writes change nothing."""
    flooder = TestClient(api.client.app, client=FLOODER)
    limit = api.hub.config.auth_failures
    statuses = []
    for i in range(limit + 3):
        spoofed = {
            "Authorization": f"Bearer pst_guess{i}",
            "X-Forwarded-For": f"10.0.0.{i}",
            "X-Real-IP": f"10.1.0.{i}",
            "Forwarded": f"for=10.2.0.{i}",
        }
        statuses.append(flooder.get("/me", headers=spoofed).status_code)
    assert statuses == [401] * limit + [429] * 3
    sources = {e["details"]["source"] for e in _auth_events(api)}
    assert sources == {FLOODER[0]}
