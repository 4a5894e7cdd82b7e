"""Tampering with the audit table by hand, as a rogue DBA would: every kind is caught."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from passerelle import hub as H
from passerelle.hub.audit import verify_audit, write_checkpoint
from passerelle.hub.hub import Hub
from tests.hub.conftest import Cast, approved_project, dataset


def activity(c: Cast, rounds: int = 3) -> None:
    dataset(c)
    for _ in range(rounds):
        approved_project(c)
        H.list_datasets(c.hub, c.alice)


def raw(c: Cast, *statements: str, params: dict[str, Any] | None = None) -> None:
    """Run SQL with the append-only triggers out of the way (what a superuser can do)."""
    engine = c.hub.db.engine
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
        for statement in statements:
            conn.execute(text(statement), params or {})


def head(c: Cast) -> int:
    with c.hub.db.engine.connect() as conn:
        return int(conn.execute(text("SELECT max(seq) FROM audit_events")).scalar_one())


def assert_bad_at(c: Cast, seq: int, words: str) -> None:
    report = verify_audit(c.hub)
    assert not report.ok
    assert report.first_bad_seq == seq, report.problem
    assert words in report.problem


def test_the_database_refuses_update_and_delete(cast: Cast) -> None:
    activity(cast, 1)
    with cast.hub.db.engine.begin() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"))
    with cast.hub.db.engine.begin() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    if cast.hub.db.dialect == "postgresql":
        with cast.hub.db.engine.begin() as conn, pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("TRUNCATE audit_events"))
    assert verify_audit(cast.hub).ok


def test_edited_event(cast: Cast) -> None:
    activity(cast)
    raw(cast, "UPDATE audit_events SET decision = 'allowed', details = '{}' WHERE seq = 5")
    assert_bad_at(cast, 5, "modified")


def test_deleted_event(cast: Cast) -> None:
    activity(cast)
    raw(cast, "DELETE FROM audit_events WHERE seq = 7")
    assert_bad_at(cast, 7, "missing")


def test_inserted_event(cast: Cast) -> None:
    activity(cast)
    raw(
        cast,
        "UPDATE audit_events SET seq = seq + 100000 WHERE seq >= 6",
        "UPDATE audit_events SET seq = seq - 99999 WHERE seq >= 100000",
    )
    raw(  # the forged event links to event 5, and the next one is re-linked to it
        cast,
        "UPDATE audit_events SET prev_hash = :h WHERE seq = 7",
        "INSERT INTO audit_events (seq, at, actor, action, target, decision, details, "
        "prev_hash, hash) SELECT 6, at, 'mallory', 'grant.create', 'project:1', 'allowed', '{}', "
        "hash, :h FROM audit_events WHERE seq = 5",
        params={"h": "f" * 64},
    )
    assert_bad_at(cast, 6, "modified")


def test_reordered_events(cast: Cast) -> None:
    activity(cast)
    raw(
        cast,
        "UPDATE audit_events SET seq = -1 WHERE seq = 8",
        "UPDATE audit_events SET seq = 8 WHERE seq = 9",
        "UPDATE audit_events SET seq = 9 WHERE seq = -1",
    )
    assert_bad_at(cast, 8, "inserted or reordered")


def test_truncated_tail_is_caught_by_the_checkpoint(cast: Cast) -> None:
    activity(cast)
    cp = write_checkpoint(cast.hub)
    assert cp is not None
    raw(cast, f"DELETE FROM audit_events WHERE seq > {cp.seq - 4}")
    assert_bad_at(cast, cp.seq - 3, "deleted from the tail")


def test_whole_chain_replaced_by_an_older_copy(cast: Cast) -> None:
    activity(cast, 1)
    with cast.hub.db.engine.connect() as conn:
        old = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_events"))]
    activity_more = approved_project(cast)
    assert activity_more
    cp = write_checkpoint(cast.hub)
    assert cp is not None and cp.seq > len(old)
    raw(cast, "DELETE FROM audit_events")
    with cast.hub.db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (seq, at, actor, action, target, decision, details, "
                "prev_hash, hash) VALUES (:seq, :at, :actor, :action, :target, :decision, :details, "
                ":prev_hash, :hash)"
            ),
            old,
        )
    report = verify_audit(cast.hub)
    assert not report.ok and "deleted from the tail" in report.problem


def test_whole_chain_rebuilt_without_the_key(cast: Cast) -> None:
    activity(cast, 1)
    write_checkpoint(cast.hub)
    from passerelle.hub.audit_chain import GENESIS, event_hash

    with cast.hub.db.engine.connect() as conn:
        rows = [
            dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_events ORDER BY seq"))
        ]
    prev = GENESIS
    for r in rows:  # a consistent chain, but under a key the attacker made up
        r["actor"] = "mallory" if r["seq"] == 3 else r["actor"]
        r["prev_hash"] = prev
        fields = {
            k: r[k]
            for k in ("seq", "at", "actor", "action", "target", "decision", "details", "prev_hash")
        }
        r["hash"] = prev = event_hash(b"attacker" * 4, **fields)
    raw(cast, "DELETE FROM audit_events")
    with cast.hub.db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (seq, at, actor, action, target, decision, details, "
                "prev_hash, hash) VALUES (:seq, :at, :actor, :action, :target, :decision, :details, "
                ":prev_hash, :hash)"
            ),
            rows,
        )
    assert_bad_at(cast, 1, "modified")


def test_concurrent_writers_never_fork_the_chain(cast: Cast) -> None:
    dataset(cast)
    errors: list[BaseException] = []

    def worker(token: str) -> None:
        own = Hub.from_config(cast.hub.config)  # its own engine, like another process
        own.clock = cast.clock
        try:
            me = H.authenticate(own, token)
            for _ in range(12):
                H.list_datasets(own, me)
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.close()

    threads = [
        threading.Thread(target=worker, args=(cast.tokens[n],))
        for n in ("alice", "bob", "steward", "operator")
    ]
    before = head(cast)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    report = verify_audit(cast.hub)
    assert report.ok, report.problem
    assert head(cast) == before + 4 * 12  # one event per listing, none lost or forked


def test_an_event_rewritten_while_the_signer_checks_is_refused(
    cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chain is checked before the audit lock; a rewrite meanwhile that keeps the chain
    consistent (what a holder of the audit key could do) changes the last checked event's
    hash, and that is checked again under the lock."""
    from passerelle.errors import ConflictError
    from passerelle.hub import checkpoints

    activity(cast, 1)
    original = checkpoints._sign_under_lock

    def rewrite_then_sign(hub: Hub, anchor: Any, verified: tuple[int, str]) -> Any:
        forged = ("0" if verified[1][0] != "0" else "1") + verified[1][1:]
        raw(
            cast,
            "UPDATE audit_events SET hash = :forged WHERE seq = :seq",
            params={"seq": verified[0], "forged": forged},
        )
        return original(hub, anchor, verified)

    monkeypatch.setattr(checkpoints, "_sign_under_lock", rewrite_then_sign)
    with pytest.raises(ConflictError, match="changed while the chain was being checked"):
        write_checkpoint(cast.hub)


def test_a_signer_beaten_to_the_next_number_checks_again(
    cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    from passerelle.hub import checkpoints

    activity(cast, 1)
    first = write_checkpoint(cast.hub)
    assert first is not None
    H.list_datasets(cast.hub, cast.alice)
    original = checkpoints._sign_under_lock
    raced: list[int] = []

    def another_signer_first(hub: Hub, anchor: Any, verified: tuple[int, str]) -> Any:
        if not raced:  # another signer numbers the next checkpoint between check and lock
            H.list_datasets(cast.hub, cast.alice)
            raced.append(original(hub, anchor, (head(cast), _hash_at(cast, head(cast)))).number)
        return original(hub, anchor, verified)

    monkeypatch.setattr(checkpoints, "_sign_under_lock", another_signer_first)
    signed = write_checkpoint(cast.hub)
    assert signed is not None and raced == [first.number + 1]
    assert signed.number in (first.number + 1, first.number + 2)
    assert verify_audit(cast.hub).ok  # one line of checkpoints, no fork


def _hash_at(c: Cast, seq: int) -> str:
    with c.hub.db.engine.connect() as conn:
        found = conn.execute(text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": seq})
        return str(found.scalar_one())
