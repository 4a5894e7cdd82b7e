"""Per-worker health of a run: pure tallies the coordinator journals and ``status`` reads.

The coordinator learns who ran each task from its outcome (``CopyOutcome.worker``:
a Dask worker's address, ``local`` for this process's thread pool) and which
workers the executor still has.  :func:`tally` folds a batch of outcomes into
the table; :func:`throughput` turns bytes and elapsed time into a rate and an
ETA.  Neither touches the journal or the network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

__all__ = ["LOCAL_WORKER", "WorkerHealth", "tally", "throughput"]

LOCAL_WORKER = "local"
"""The name of this process's thread pool in the table."""


@dataclass(frozen=True, slots=True)
class WorkerHealth:
    """One worker's share of a run: objects and bytes done, failures, last seen, alive."""

    name: str
    objects: int = 0
    bytes: int = 0
    failures: int = 0
    last_seen: str | None = None
    alive: bool = True


def tally(
    table: Mapping[str, WorkerHealth],
    outcomes: Iterable[tuple[str, str, int]],
    alive: Iterable[str] | None,
    now: str,
) -> dict[str, WorkerHealth]:
    """The table after ``outcomes`` (worker, status, size) and the executor's live workers.

    ``alive`` is None when the executor could not say (its scheduler did not
    answer): every worker then keeps its last known state.  A worker seen before
    and absent from ``alive`` is lost; one in ``alive`` without outcomes yet is
    listed with zeros.
    """
    result = dict(table)
    for worker, status, size in outcomes:
        row = result.get(worker, WorkerHealth(worker))
        if status == "done":
            row = replace(row, objects=row.objects + 1, bytes=row.bytes + size, last_seen=now)
        elif status in ("failed", "changed"):
            row = replace(row, failures=row.failures + (status == "failed"), last_seen=now)
        result[worker] = row
    if alive is not None:
        live = set(alive)
        for name in live - set(result):
            result[name] = WorkerHealth(name, last_seen=now)
        for name, row in list(result.items()):
            if row.alive != (name in live):
                result[name] = replace(row, alive=name in live)
    return dict(sorted(result.items()))


def throughput(
    done_bytes: int, started: str | datetime, now: datetime, remaining_bytes: int
) -> tuple[float, float | None]:
    """Bytes per second since ``started`` and the seconds left at that rate (None: unknown)."""
    if isinstance(started, str):
        started = datetime.fromisoformat(started.replace("Z", "+00:00"))
    elapsed = max(1e-6, (now - started).total_seconds())
    rate = done_bytes / elapsed
    if remaining_bytes <= 0:
        return rate, 0.0
    return rate, (remaining_bytes / rate if rate > 0 else None)
