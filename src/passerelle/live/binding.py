"""The hub's storage binding, kept in its database, and the live store built on it."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from passerelle.live.live_store import LiveRoute, LiveStore
from passerelle.live.phases import Binding, Phase, route

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub
    from passerelle.storage import Store

__all__ = ["BINDING_TTL", "current_binding", "live_store", "load_binding", "record_debt"]

BINDING_TTL = 0.25
"""Seconds a process may act on a binding it read; safe because writes reach both
stores in every phase a process could still believe in."""


def load_binding(hub: Hub, session: Session) -> Binding:
    from passerelle.hub.tables import StorageBinding

    row = session.get(StorageBinding, 1)
    if row is None:
        return Binding(Phase.SINGLE, hub.config.resolve_url(hub.config.store))
    return Binding(
        Phase(row.phase),
        row.source_url,
        row.destination_url,
        row.retired_url,
        row.journal,
        row.generation,
    )


def current_binding(hub: Hub) -> Binding:
    with hub.db.read() as session:
        return load_binding(hub, session)


def record_debt(hub: Hub, key: str, operation: str, error: str) -> None:
    """Remember a write the destination missed; the move repairs it before finishing."""
    from passerelle.hub.tables import MirrorDebt

    with hub.db.transaction() as session:
        session.add(
            MirrorDebt(
                key=key, operation=operation, error=error[:2000], at=hub.now(), repaired_at=None
            )
        )


class _Resolver:
    def __init__(self, hub: Hub, prefix: str = "") -> None:
        self._hub = hub
        self._prefix = prefix.strip("/")
        self._lock = threading.Lock()
        self._read_at = 0.0
        self._route: LiveRoute | None = None

    def __call__(self) -> LiveRoute:
        with self._lock:
            now = time.monotonic()
            if self._route is None or now - self._read_at > BINDING_TTL:
                r = route(current_binding(self._hub))
                self._route = LiveRoute(
                    self._open(r.read),
                    self._open(r.fallback) if r.fallback else None,
                    tuple(self._open(u) for u in r.writes),
                )
                self._read_at = now
            return self._route

    def _open(self, url: str) -> Store:
        return self._hub.open_url(f"{url.rstrip('/')}/{self._prefix}" if self._prefix else url)

    def invalidate(self) -> None:
        with self._lock:
            self._route = None


def live_store(hub: Hub, prefix: str = "") -> LiveStore:
    """The hub's data store (below ``prefix``, checked like a key), following the phase
    of any live move."""
    from passerelle.storage.keys import check_prefix

    root = check_prefix(prefix, what="store prefix")
    resolver = _Resolver(hub, root)

    def owe(key: str, operation: str, error: str) -> None:
        record_debt(hub, f"{root}/{key}" if root else key, operation, error)

    noter = hub.replica_noter()

    def written(key: str, operation: str, size: int | None) -> None:
        noter(f"{root}/{key}" if root else key, operation, size)

    store = LiveStore(resolver, owe, written)

    def invalidate() -> None:
        resolver.invalidate()
        noter.invalidate()

    store.invalidate = invalidate  # type: ignore[attr-defined]
    return store
