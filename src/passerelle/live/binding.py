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
    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._lock = threading.Lock()
        self._read_at = 0.0
        self._route: LiveRoute | None = None

    def __call__(self) -> LiveRoute:
        with self._lock:
            now = time.monotonic()
            if self._route is None or now - self._read_at > BINDING_TTL:
                r = route(current_binding(self._hub))
                self._route = LiveRoute(
                    self._hub.open_url(r.read),
                    self._hub.open_url(r.fallback) if r.fallback else None,
                    tuple(self._hub.open_url(u) for u in r.writes),
                )
                self._read_at = now
            return self._route

    def invalidate(self) -> None:
        with self._lock:
            self._route = None


def live_store(hub: Hub) -> LiveStore:
    resolver = _Resolver(hub)
    store = LiveStore(resolver, lambda k, op, err: record_debt(hub, k, op, err))
    store.invalidate = resolver.invalidate  # type: ignore[attr-defined]
    return store
