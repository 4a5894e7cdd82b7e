"""A move that yields to research: copies in flight follow the latency researchers see.

The coordinator asks a :class:`Pacer` how many copies may be in flight before it
submits each one.  :class:`LatencyPacer` answers from a latency signal (the p95 of
the hub's own query durations, measured by the hub, see
:mod:`passerelle.live.research_latency`) against a target: over the target it
halves the copies in flight, far under it doubles them, near it adds one.  It never
goes under one copy, so the move always finishes; with no research running it
climbs back to the full concurrency.  :func:`next_limit` is the whole decision, pure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from passerelle.errors import UsageError

__all__ = [
    "LatencyPacer",
    "LatencyTarget",
    "Pacer",
    "PacerStep",
    "next_limit",
    "parse_latency_target",
]


class Pacer(Protocol):
    """How many copies may be in flight right now (between 1 and ``capacity``)."""

    def limit(self, capacity: int) -> int: ...


@dataclass(frozen=True, slots=True)
class LatencyTarget:
    """What researchers may see during a move: ``ratio`` x the idle p95, or ``seconds``."""

    ratio: float | None = None
    seconds: float | None = None

    def bound(self, idle_p95: float | None) -> float | None:
        """The p95 latency (s) over which the move backs off; None: nothing to compare."""
        if self.seconds is not None:
            return self.seconds
        if self.ratio is None or idle_p95 is None or idle_p95 <= 0:
            return None
        return self.ratio * idle_p95

    def describe(self) -> str:
        if self.seconds is not None:
            return f"{self.seconds * 1000:.0f}ms"
        return f"{self.ratio:g}x"


def parse_latency_target(text: str) -> LatencyTarget | None:
    """``"2x"`` (of the idle p95), ``"800ms"``, ``"1.5s"``, or ``"off"`` (None)."""
    raw = text.strip().lower()
    if raw == "off":
        return None
    try:
        if raw.endswith("ms"):
            value, target = float(raw[:-2]), LatencyTarget(seconds=float(raw[:-2]) / 1000)
        elif raw.endswith("s"):
            value, target = float(raw[:-1]), LatencyTarget(seconds=float(raw[:-1]))
        elif raw.endswith("x"):
            value, target = float(raw[:-1]), LatencyTarget(ratio=float(raw[:-1]))
        else:
            raise ValueError(raw)
    except ValueError:
        raise UsageError(
            f"latency target {text!r} is not understood: give a ratio of the idle latency "
            "(2x), a duration (800ms, 1.5s) or off"
        ) from None
    if not value > 0 or value != value or value == float("inf"):
        raise UsageError(f"latency target {text!r} must be a positive finite number")
    if target.ratio is not None and target.ratio < 1:
        raise UsageError(f"latency target {text!r} is under 1x: the move could never run")
    return target


@dataclass(frozen=True, slots=True)
class PacerStep:
    """One decision, kept for the report: when, what was seen, what was allowed."""

    at: float
    observed_p95: float | None
    bound: float | None
    limit: int


def next_limit(current: int, observed_p95: float | None, bound: float | None, capacity: int) -> int:
    """The copies allowed in flight next, from those allowed now and what research sees.

    Over the bound: half (at least 1).  Under half the bound, or no research to
    measure: double.  Under 80 % of it: one more.  Between: unchanged."""
    capacity = max(1, capacity)
    current = max(1, min(current, capacity))
    if observed_p95 is None or bound is None:
        return min(capacity, current * 2)
    if observed_p95 > bound:
        return max(1, current // 2)
    if observed_p95 < 0.5 * bound:
        return min(capacity, current * 2)
    if observed_p95 < 0.8 * bound:
        return min(capacity, current + 1)
    return current


class LatencyPacer:
    """AIMD on the copies in flight, re-decided every ``every_s`` from ``signal``.

    ``signal()`` returns the recent p95 latency (s) or None when no query finished
    lately; ``idle_p95`` is the latency before the move (for a ratio target).  The
    first limit is ``start`` (a slow start: the move ramps up while it is measured).
    """

    def __init__(
        self,
        signal: Callable[[], float | None],
        target: LatencyTarget,
        *,
        idle_p95: float | None = None,
        start: int = 2,
        every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._signal = signal
        self._bound = target.bound(idle_p95)
        self._current = max(1, start)
        self._every_s = every_s
        self._clock = clock
        self._next_at = clock() + every_s
        self._lock = threading.Lock()
        self.steps: list[PacerStep] = []

    @property
    def bound(self) -> float | None:
        return self._bound

    def limit(self, capacity: int) -> int:
        with self._lock:
            now = self._clock()
            if now >= self._next_at:
                self._next_at = now + self._every_s
                observed = self._signal()
                self._current = next_limit(self._current, observed, self._bound, capacity)
                if len(self.steps) < 10_000:
                    self.steps.append(PacerStep(now, observed, self._bound, self._current))
            return max(1, min(self._current, capacity))
