"""The replicas' outbox: every write to the hub's store noted for each replica, drained
by the follower (``hub replica sync --follow``).

A write is noted after the hub's own store has it (``LiveStore``'s ``on_written``),
queued and inserted by a background thread, one row per replica: the row says only
*which key changed*, never its bytes, so draining
copies the key's state at that moment and several rows for one key are settled by one
copy. A row is deleted only up to the newest row the drain saw for that key; a write made
while its copy ran leaves a newer row, so it is copied again. Should noting fail (the
database unreachable, the process killed before its queue was inserted), the write stands
and the next incremental pass finds it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from passerelle.hub.hub import Hub

__all__ = ["Backlog", "OutboxNoter", "backlogs", "pending_keys", "settle"]

REPLICAS_TTL = 0.25
"""Seconds a process may note writes for the replicas it read (like the binding's)."""

_ATTEMPTS = 5
_IDLE_EXIT_S = 5.0  # the flushing thread ends after this long with nothing queued

_log = logging.getLogger(__name__)


class OutboxNoter:
    """``on_written`` for the hub's live store: one outbox row per replica and write.

    The write's caller never waits on the database for it: rows are queued and a
    background thread inserts them in batches (a write made inside a hub transaction, a
    result kept with its record, must not wait on a second one). ``flush`` inserts what
    is queued now; whoever reads the outbox flushes its own process's queue first."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._lock = threading.Lock()
        self._read_at = 0.0
        self._known: tuple[tuple[int, str], ...] | None = None
        self._queue: list[dict[str, object]] = []
        self._queued = threading.Condition()
        self._flushing = threading.Lock()  # a flush returns once rows taken before it are in
        self._thread: threading.Thread | None = None

    def replica_ids(self) -> tuple[int, ...]:
        return tuple(i for i, _ in self._replicas())

    def replica_urls(self) -> tuple[str, ...]:
        """Where the hub's writes also go (read at most every ``REPLICAS_TTL`` seconds):
        placement decides every write for these stores too."""
        return tuple(u for _, u in self._replicas())

    def _replicas(self) -> tuple[tuple[int, str], ...]:
        from sqlalchemy import select

        from passerelle.hub.tables import Replica

        with self._lock:
            now = time.monotonic()
            if self._known is None or now - self._read_at > REPLICAS_TTL:
                with self._hub.db.read() as session:
                    rows = session.execute(select(Replica.id, Replica.url).order_by(Replica.id))
                    self._known = tuple((int(i), str(u)) for i, u in rows)
                self._read_at = now
            return self._known

    def __call__(self, key: str, operation: str, size: int | None) -> None:
        try:
            ids = self.replica_ids()
        except Exception as exc:  # the write itself succeeded: the next pass finds it
            _log.warning("a write to %s was not noted for the replicas (%s)", key, exc)
            return
        if not ids:
            return
        at = self._hub.now()
        rows: list[dict[str, object]] = [
            {"replica_id": i, "key": key, "operation": operation, "size": size, "at": at}
            for i in ids
        ]
        with self._queued:
            self._queue.extend(rows)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="passerelle-replica-outbox", daemon=True
                )
                self._thread.start()
            self._queued.notify()

    def _run(self) -> None:
        while True:
            with self._queued:
                if not self._queue:
                    self._queued.wait(timeout=_IDLE_EXIT_S)
                    if not self._queue:
                        self._thread = None
                        return
            self.flush()

    def flush(self) -> None:
        """Insert every queued row now (tried a few times; on failure the rows are
        dropped with a warning and the next incremental pass finds those writes)."""
        from sqlalchemy import insert

        from passerelle.hub.tables import ReplicaChange

        with self._flushing:
            with self._queued:
                rows, self._queue = self._queue, []
            if rows:
                self._insert(insert(ReplicaChange), rows)

    def _insert(self, statement: Any, rows: list[dict[str, object]]) -> None:
        for attempt in range(_ATTEMPTS):
            try:
                with self._hub.db.transaction() as session:
                    session.execute(statement, rows)
                return
            except Exception as exc:
                if attempt == _ATTEMPTS - 1:
                    _log.warning(
                        "%d writes were not noted for the replicas (%s); the next "
                        "incremental pass copies them",
                        len(rows),
                        exc,
                    )
                else:
                    time.sleep(0.2 * (attempt + 1))

    def invalidate(self) -> None:
        with self._lock:
            self._known = None


@dataclass(frozen=True)
class Backlog:
    """What one replica has not received yet."""

    objects: int  # distinct keys
    bytes: int  # the sizes noted with them (a delete or copy counts 0)
    oldest_at: float | None  # epoch seconds of the oldest noted write


def backlogs(hub: Hub) -> dict[int, Backlog]:
    """Each replica's backlog, by replica id (those with none are absent)."""
    hub.replica_noter().flush()
    from sqlalchemy import func, select

    from passerelle.hub.tables import ReplicaChange

    c = ReplicaChange
    with hub.db.read() as session:
        rows = session.execute(
            select(
                c.replica_id,
                func.count(func.distinct(c.key)),
                func.coalesce(func.sum(c.size), 0),
                func.min(c.at),
            ).group_by(c.replica_id)
        ).all()
    return {
        int(rid): Backlog(int(n), int(total or 0), oldest.timestamp() if oldest else None)
        for rid, n, total, oldest in rows
    }


def pending_keys(
    hub: Hub, replica_id: int, limit: int, *, after_id: int = 0
) -> list[tuple[str, int, int]]:
    """Up to ``limit`` keys the replica lacks whose oldest row comes after ``after_id``,
    oldest first: (key, newest row id, oldest row id)."""
    hub.replica_noter().flush()
    from sqlalchemy import func, select

    from passerelle.hub.tables import ReplicaChange

    c = ReplicaChange
    oldest = func.min(c.id)
    with hub.db.read() as session:
        rows = session.execute(
            select(c.key, func.max(c.id), oldest)
            .where(c.replica_id == replica_id)
            .group_by(c.key)
            .having(oldest > after_id)
            .order_by(oldest)
            .limit(limit)
        ).all()
    return [(str(key), int(newest), int(first)) for key, newest, first in rows]


def settle(hub: Hub, replica_id: int, done: list[tuple[str, int]]) -> None:
    """Delete the rows of each key up to the newest one its copy saw."""
    from sqlalchemy import and_, delete, or_

    from passerelle.hub.tables import ReplicaChange

    c = ReplicaChange
    for start in range(0, len(done), 200):
        batch = done[start : start + 200]
        with hub.db.transaction() as session:
            session.execute(
                delete(c).where(
                    c.replica_id == replica_id,
                    or_(*(and_(c.key == key, c.id <= newest) for key, newest in batch)),
                )
            )
