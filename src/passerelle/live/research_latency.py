"""Researchers' query latency as the hub itself measured it, for a move that yields to them.

Every query the hub runs is recorded with the time its researcher waited, as the hub
measured it from the request to the stored result (``queries.duration_s``; the
sandbox's own time alone missed the store reads and writes that a move slows down):
the researchers report nothing, so they cannot speed the move up or stop it by
lying. The idle latency is the p95 of the last queries that finished before the move
began (the binding entered mirroring); the recent one, the p95 of those that
finished in the last few seconds. Both read the newest rows by primary key, so the
cost stays flat however many queries the hub has kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from passerelle.hub.hub import Hub
    from passerelle.migration.pacing import LatencyPacer, LatencyTarget

__all__ = ["ResearchLatency", "p95", "research_pacer"]

IDLE_SAMPLES = 200
IDLE_HORIZON = timedelta(days=7)
RECENT_SCAN = 2000


def p95(values: Sequence[float]) -> float | None:
    """The nearest-rank 95th percentile; None for no value."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


class ResearchLatency:
    """Reads the hub's own query records: the idle p95 and the p95 of the last ``window_s``."""

    def __init__(self, hub: Hub, window_s: float = 10.0) -> None:
        self._hub = hub
        self._window = timedelta(seconds=window_s)

    def _newest(
        self, limit: int, before: datetime | None = None
    ) -> list[tuple[float, datetime, int]]:
        from sqlalchemy import select

        from passerelle.hub.tables import QueryRecord

        query = select(QueryRecord.duration_s, QueryRecord.created_at, QueryRecord.user_id)
        if before is not None:
            query = query.where(QueryRecord.created_at < before)
        query = query.order_by(QueryRecord.id.desc()).limit(limit)
        with self._hub.db.read() as session:
            return [(float(d), _utc(at), int(u)) for d, at, u in session.execute(query).all()]

    def move_began(self) -> datetime | None:
        """When the binding last changed phase (the start of mirroring during a move)."""
        from passerelle.hub.tables import StorageBinding

        with self._hub.db.read() as session:
            row = session.get(StorageBinding, 1)
            return None if row is None else _utc(row.updated_at)

    def idle_p95(self, before: datetime | None = None) -> float | None:
        """The p95 of the queries that finished before ``before`` (default: the move's start)."""
        before = _utc(before) if before else (self.move_began() or _utc(self._hub.now()))
        rows = self._newest(IDLE_SAMPLES, before)
        return p95([d for d, at, _ in rows if at >= before - IDLE_HORIZON])

    def recent_p95(self) -> float | None:
        """The worst of each researcher's p95 over the last ``window_s``; None if no query
        finished.  Per researcher, so one who floods the hub with quick queries cannot
        hide that another's are slow (and speed the move up over them)."""
        since = _utc(self._hub.now()) - self._window
        by_user: dict[int, list[float]] = {}
        for duration, at, user in self._newest(RECENT_SCAN):
            if at >= since:
                by_user.setdefault(user, []).append(duration)
        worst = [p95(durations) for durations in by_user.values()]
        return max((w for w in worst if w is not None), default=None)


def research_pacer(
    hub: Hub, target: LatencyTarget, *, window_s: float = 5.0, every_s: float = 1.0
) -> LatencyPacer:
    """A pacer for the hub's move: the copies in flight follow its researchers' latency."""
    from passerelle.migration.pacing import LatencyPacer

    latency = ResearchLatency(hub, window_s)
    return LatencyPacer(latency.recent_p95, target, idle_p95=latency.idle_p95(), every_s=every_s)


def _utc(at: datetime) -> datetime:
    """The hub's columns give back aware UTC datetimes; a naive one is taken as UTC."""
    from datetime import UTC

    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
