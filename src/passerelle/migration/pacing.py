"""A move that yields to research: its share of the machine follows the latency researchers see.

The coordinator asks a :class:`Pacer` how many copies may be in flight before it
submits each one. :class:`LatencyPacer` answers from a latency signal (the p95 of
the hub's own query durations, measured by the hub, see
:mod:`passerelle.live.research_latency`) against a target. Its level is a *share*:
from 1 up to the executor's capacity it is the number of copies in flight; under 1
it is a duty cycle, one copy in flight for that fraction of each second and none for
the rest, because on a small machine even one copy (and the servers it keeps busy)
can double a query's time. The target is a ceiling: near it the share halves, well
under it the share grows by one copy a second; with no research at all it doubles.
It never falls under :data:`MIN_SHARE`, so the move always finishes; with no
research running it climbs back to the full concurrency. :func:`next_share` and
:func:`gate_open` are the whole decision, pure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from passerelle.errors import UsageError

__all__ = [
    "MIN_SHARE",
    "LatencyPacer",
    "LatencyTarget",
    "Pacer",
    "PacerStep",
    "gate_open",
    "next_share",
    "parse_latency_target",
    "wait_for_turn",
]

MIN_SHARE = 1 / 8
"""The least a move is given: one copy in flight an eighth of the time."""
DUTY_PERIOD_S = 1.0
"""Under one copy in flight, the period whose first ``share`` part copies may start in."""
BACK_OFF_AT = 0.8
"""The share of the bound over which the move halves its share."""
CLIMB_UNDER = 0.5
"""The share of the bound under which the move takes a little more."""
HOLD_POLL_S = 0.02
"""How often a held submitter looks again whether it may start a copy."""


class Pacer(Protocol):
    """How many copies may be in flight right now: 0 (hold: start none now) to ``capacity``."""

    def limit(self, capacity: int) -> int: ...


def wait_for_turn(pacer: Pacer | None, capacity: int) -> int:
    """The pacer's limit, waiting while it is 0; for a submitter with nothing in flight."""
    if pacer is None:
        return capacity
    while (allowed := pacer.limit(capacity)) <= 0:
        time.sleep(HOLD_POLL_S)
    return allowed


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
    """One decision, kept for the report: when, what was seen, the share given."""

    at: float
    observed_p95: float | None
    bound: float | None
    share: float

    @property
    def limit(self) -> int:
        """Copies in flight while the duty cycle is open (at least one)."""
        return max(1, int(self.share))


def next_share(
    current: float, observed_p95: float | None, bound: float | None, capacity: int
) -> float:
    """The move's next share (copies in flight; under 1, a duty cycle) from what research sees.

    The bound is a ceiling, so the move backs off before research reaches it: over
    80 % of the bound, half (at least :data:`MIN_SHARE`).  Under half of it, one more
    copy, or a quarter more of the duty cycle under one: a slow climb, because a
    query slowed by too many copies is only seen once it ends.  Between: unchanged.
    With no research to measure (or nothing to compare with): double."""
    capacity = max(1, capacity)
    current = max(MIN_SHARE, min(float(current), float(capacity)))
    if observed_p95 is None or bound is None:
        return float(min(capacity, max(1.0, current * 2)))
    if observed_p95 > BACK_OFF_AT * bound:
        return max(MIN_SHARE, _whole(current / 2))
    if observed_p95 < CLIMB_UNDER * bound:
        return float(min(capacity, current + 1 if current >= 1 else min(1.0, current * 1.25)))
    return current


def _whole(share: float) -> float:
    """Above one copy, shares are whole copies (5 halves to 2, not 2.5)."""
    return float(int(share)) if share >= 1 else share


def gate_open(share: float, now: float, period: float = DUTY_PERIOD_S) -> bool:
    """Whether a copy may start at ``now`` under ``share``: always from 1 up, else during
    the first ``share`` fraction of each period."""
    return share >= 1 or (now % period) < share * period


class LatencyPacer:
    """AIMD on the move's share, re-decided every ``every_s`` from ``signal``.

    ``signal()`` returns the recent p95 latency (s) or None when no query finished
    lately; ``idle_p95`` is the latency before the move (for a ratio target).  The
    first share is ``start`` (a slow start: the move ramps up while it is measured).
    """

    def __init__(
        self,
        signal: Callable[[], float | None],
        target: LatencyTarget,
        *,
        idle_p95: float | None = None,
        start: float = 2,
        every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._signal = signal
        self._bound = target.bound(idle_p95)
        self._current = max(MIN_SHARE, float(start))
        self._every_s = every_s
        self._clock = clock
        self._next_at = clock() + every_s
        self._lock = threading.Lock()
        self.steps: list[PacerStep] = []

    @property
    def bound(self) -> float | None:
        return self._bound

    @property
    def share(self) -> float:
        return self._current

    def limit(self, capacity: int) -> int:
        with self._lock:
            now = self._clock()
            if now >= self._next_at:
                self._next_at = now + self._every_s
                observed = self._signal()
                self._current = next_share(self._current, observed, self._bound, capacity)
                if len(self.steps) < 10_000:
                    self.steps.append(PacerStep(now, observed, self._bound, self._current))
            if not gate_open(self._current, now):
                return 0
            return max(1, min(int(self._current), capacity))
