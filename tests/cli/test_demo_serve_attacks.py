"""``demo --serve``'s helpers act as people of the story (rita queries in the background,
omar copies the backlog): once an admin disables such a person from the portal, or revokes
their token, the helper must stop acting in their name, as every request would."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from passerelle.hub import authenticate
from passerelle.hub.tables import AuditEvent
from tests.api.conftest import SQLITE_ONLY, Api, api, seeded_hub, seeds, synth_sources  # noqa: F401
from tests.api.helpers import published_project

pytestmark = SQLITE_ONLY


def _rita_queries(api: Api, after: int) -> int:  # noqa: F811
    with api.hub.db.read() as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    AuditEvent.seq > after,
                    AuditEvent.actor == "rita",
                    AuditEvent.action == "query.run",
                    AuditEvent.decision == "allowed",
                )
            )
            or 0
        )


def _head(api: Api) -> int:  # noqa: F811
    with api.hub.db.read() as session:
        return int(session.scalar(select(func.max(AuditEvent.seq))) or 0)


def test_the_background_researcher_stops_once_rita_is_disabled(
    api: Api,  # noqa: F811
    synth_sources: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import passerelle.demo.live_hub as live_hub
    from passerelle.demo import serve

    pid = published_project(api, synth_sources)
    demo = SimpleNamespace(
        hub=api.hub,
        who={"rita": authenticate(api.hub, api.tokens["rita"])},  # taken when the demo starts
        tokens={"rita": api.tokens["rita"]},
        project=pid,
    )
    api.ok("PATCH", "/users/rita", "admin", json={"active": False})
    after = _head(api)
    monkeypatch.setattr(serve, "QUERY_EVERY_S", 0.05)
    monkeypatch.setattr(live_hub, "QUERIES", {"n": "SELECT count(*) AS n FROM pmsi_stays"})
    stop = threading.Event()
    said: list[str] = []
    helper = threading.Thread(target=serve._researcher, args=(demo, stop, said.append))
    helper.start()
    time.sleep(1.0)
    stop.set()
    helper.join(timeout=30)
    assert _rita_queries(api, after) == 0, "a disabled user's queries still ran"
