"""The portal on the API's seeded hubs (SQLite and PostgreSQL), one browser-like client
per person: each keeps its own cookies, as a browser does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Api, api, seeded_hub, seeds, synth_sources  # noqa: F401 (fixtures)

__all__ = ["browser", "csrf_of", "sign_in"]


def csrf_of(html: str, field: str = "csrf") -> str:
    """The hidden form value ``field`` of a page."""
    found = re.search(rf'name="{field}" value="([^"]*)"', html)
    assert found, f"no {field} field on the page"
    return found.group(1)


def sign_in(client: TestClient, token: str) -> Any:
    """Open the sign-in page and post ``token`` with its nonce, as a browser would."""
    page = client.get("/signin")
    assert page.status_code == 200
    return client.post(
        "/signin",
        data={"token": token, "nonce": csrf_of(page.text, "nonce"), "next": "/portal/"},
        follow_redirects=False,
    )


@pytest.fixture
def browser(api: Api) -> Iterator[Any]:  # noqa: F811
    """``browser(who)``: a new client signed in as ``who`` (its own cookie jar)."""
    clients: list[TestClient] = []

    def open_as(who: str | None) -> TestClient:
        client = TestClient(api.client.app)
        clients.append(client)
        if who is not None:
            answer = sign_in(client, api.tokens[who])
            assert answer.status_code == 303, answer.text
        return client

    yield open_as
    for client in clients:
        client.close()
