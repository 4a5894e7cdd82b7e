"""The PostgreSQL pool pings a connection only after it sat idle: a dead one is replaced
before it serves anyone, and one used moments ago costs no round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.hub import database
from passerelle.hub.database import HubDatabase
from tests.databases import fresh_database


def _backend_pid(db: HubDatabase) -> int:
    from sqlalchemy import text

    with db.read_one() as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(server: HubDatabase, pid: int) -> None:
    from sqlalchemy import text

    with server.read_one() as session:
        session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def _pings(db: HubDatabase, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    seen: list[object] = []
    ping = db.engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        seen.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(db.engine.dialect, "do_ping", counted)
    return seen


def test_a_connection_killed_while_idle_is_replaced_before_a_request_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fresh_database("postgresql", tmp_path) as url:
        db, killer = HubDatabase(url), HubDatabase(url)
        try:
            first = _backend_pid(db)
            pings = _pings(db, monkeypatch)
            _kill(killer, first)
            monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.0)  # idle "long enough"
            second = _backend_pid(db)  # answered, on a new connection
            assert second != first
            assert len(pings) == 1
        finally:
            db.dispose()
            killer.dispose()


def test_a_connection_used_moments_ago_is_handed_out_without_a_ping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fresh_database("postgresql", tmp_path) as url:
        db = HubDatabase(url)
        try:
            first = _backend_pid(db)
            pings = _pings(db, monkeypatch)
            monkeypatch.setattr(database, "IDLE_PING_SECONDS", 3600.0)
            assert [_backend_pid(db) for _ in range(5)] == [first] * 5
            assert pings == []
            monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.0)
            assert _backend_pid(db) == first
            assert len(pings) == 1  # idle past the limit: pinged, alive, kept
        finally:
            db.dispose()
