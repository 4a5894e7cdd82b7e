"""The move yields to research: the pacer's decision, its target's spelling, and a run
whose copies in flight follow the latency signal."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from passerelle.errors import UsageError
from passerelle.migration import RunOptions, plan_migration, run_migration, verify_migration
from passerelle.migration.pacing import (
    MIN_SHARE,
    LatencyPacer,
    LatencyTarget,
    gate_open,
    next_share,
    parse_latency_target,
    wait_for_turn,
)
from passerelle.migration.planner import PlanOptions
from passerelle.storage import Store, StoreWrapper, open_store
from passerelle.storage.model import MiB
from tests.backends import new_store_url

from .conftest import populate


@pytest.mark.parametrize(
    ("current", "observed", "bound", "capacity", "expected"),
    [
        (8, 2.0, 1.0, 16, 4),  # over the bound: halve
        (4, 0.85, 1.0, 16, 2),  # ... already over 80 % of it: the bound is a ceiling
        (5, 2.0, 1.0, 16, 2),  # ... in whole copies above one
        (1, 9.0, 1.0, 16, 0.5),  # under one copy: a duty cycle
        (0.25, 9.0, 1.0, 16, MIN_SHARE),  # never under the floor: the move finishes
        (MIN_SHARE, 9.0, 1.0, 16, MIN_SHARE),
        (0.01, 9.0, 1.0, 16, MIN_SHARE),  # a current under the floor is first raised to it
        (4, 0.2, 1.0, 16, 5),  # well under: one more copy (a slow climb)
        (0.25, 0.2, 1.0, 16, 0.3125),  # ... or a quarter more of the duty cycle
        (0.9, 0.2, 1.0, 16, 1.0),  # ... up to one copy
        (16, 0.1, 1.0, 16, 16),  # ... never above the capacity
        (4, 0.6, 1.0, 16, 4),  # between half and 80 %: hold
        (0.5, 0.7, 1.0, 16, 0.5),
        (4, None, 1.0, 16, 8),  # no query lately: double
        (MIN_SHARE, None, 1.0, 16, 1),  # ... straight back to whole copies
        (12, None, 1.0, 16, 16),  # ... up to the capacity
        (4, 0.3, None, 16, 8),  # nothing to compare with: double
        (40, 2.0, 1.0, 16, 8),  # a current above the capacity is first cut to it
    ],
)
def test_next_share(
    current: float, observed: float | None, bound: float | None, capacity: int, expected: float
) -> None:
    assert next_share(current, observed, bound, capacity) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("share", "now", "open_"),
    [
        (1.0, 0.99, True),  # from one copy up the gate is always open
        (3.0, 12.5, True),
        (0.25, 7.0, True),  # under one: the first quarter of each second
        (0.25, 7.2, True),
        (0.25, 7.25, False),
        (0.25, 7.9, False),
        (MIN_SHARE, 3.1, True),
        (MIN_SHARE, 3.2, False),
    ],
)
def test_the_duty_cycle_gate(share: float, now: float, open_: bool) -> None:
    assert gate_open(share, now) is open_


def test_under_one_copy_the_pacer_holds_for_the_rest_of_each_second() -> None:
    now = [0.0]
    pacer = LatencyPacer(
        lambda: 9.0, LatencyTarget(seconds=1.0), start=1, every_s=1.0, clock=lambda: now[0]
    )
    now[0] = 1.0
    assert pacer.limit(16) == 1 and pacer.share == 0.5  # over the bound: half of each second
    now[0] = 1.6
    assert pacer.limit(16) == 0  # the second half: hold
    for t in (2.0, 3.0, 4.0, 5.0):
        now[0] = t
        pacer.limit(16)
    assert pacer.share == MIN_SHARE  # slow research all along: the floor, not zero
    now[0] = 5.1
    assert pacer.limit(16) == 1
    now[0] = 5.2
    assert pacer.limit(16) == 0


class _Scripted:
    """A pacer that holds on every other call, to show nobody stops at a hold."""

    def __init__(self, capacity: int = 2) -> None:
        self.calls = 0
        self.holds = 0
        self.capacity = capacity

    def limit(self, capacity: int) -> int:
        self.calls += 1
        if self.calls % 2:
            self.holds += 1
            return 0
        return min(self.capacity, capacity)


def test_wait_for_turn_waits_out_holds() -> None:
    pacer = _Scripted()
    assert wait_for_turn(pacer, 8) == 2
    assert pacer.holds == 1
    assert wait_for_turn(None, 8) == 8


def _planned(tmp_path: Path, objects: int) -> tuple[Store, Store, Path]:
    """Two file stores, ``objects`` small objects in the first, and a planned journal."""
    src = open_store(new_store_url("file", tmp_path / "a", "src"))
    dst = open_store(new_store_url("file", tmp_path / "b", "dst"))
    populate(src, objects, large=0)
    journal = tmp_path / "j.db"
    plan_migration(src.url, dst.url, journal, PlanOptions(part_size=5 * MiB))
    return src, dst, journal


def test_holds_never_end_a_run_or_a_verify_early(tmp_path: Path) -> None:
    src, dst, journal = _planned(tmp_path, 30)
    pacer = _Scripted()
    summary = run_migration(journal, RunOptions(concurrency=4, pacer=pacer), source=src, dest=dst)
    assert summary.complete and summary.copied == 30 and pacer.holds > 0
    checker = _Scripted()
    report = verify_migration(journal, deep=True, pacer=checker)
    assert report.ok and report.verified == 30 and checker.holds > 0


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("2x", LatencyTarget(ratio=2.0)),
        ("1.5X", LatencyTarget(ratio=1.5)),
        ("800ms", LatencyTarget(seconds=0.8)),
        (" 1.5s ", LatencyTarget(seconds=1.5)),
        ("off", None),
    ],
)
def test_latency_targets_as_typed(text: str, target: LatencyTarget | None) -> None:
    assert parse_latency_target(text) == target


@pytest.mark.parametrize(
    "text", ["", "fast", "2", "-1x", "0ms", "0.5x", "nanx", "infs", "1e999ms", "2xx", "ms"]
)
def test_a_latency_target_that_makes_no_sense_is_one_sentence(text: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_latency_target(text)
    assert "\n" not in str(err.value)


def test_a_ratio_target_needs_an_idle_latency() -> None:
    assert LatencyTarget(ratio=2.0).bound(0.3) == pytest.approx(0.6)
    assert LatencyTarget(ratio=2.0).bound(None) is None
    assert LatencyTarget(seconds=0.5).bound(None) == 0.5


def test_the_pacer_decides_once_per_period_and_slow_starts() -> None:
    now = [0.0]
    seen = [0.1]
    pacer = LatencyPacer(
        lambda: seen[0], LatencyTarget(seconds=1.0), start=2, every_s=1.0, clock=lambda: now[0]
    )
    assert pacer.limit(16) == 2  # the first period: the slow start
    now[0] = 1.0
    assert pacer.limit(16) == 3
    assert pacer.limit(16) == 3  # same period: no new decision
    seen[0] = 3.0
    now[0] = 2.0
    assert pacer.limit(16) == 1
    now[0] = 3.0
    seen[0] = 0.1
    assert pacer.limit(1) == 1  # never above what the executor can hold
    assert [s.limit for s in pacer.steps] == [3, 1, 1]


class _InFlight(StoreWrapper):
    """Counts the GETs open at once (each held a little, as a slow link would)."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.lock = threading.Lock()
        self.now = 0
        self.peak_while_slow = 0
        self.peak_while_fast = 0
        self.slow = threading.Event()

    def get(self, key: str, **kwargs):  # type: ignore[no-untyped-def]
        with self.lock:
            self.now += 1
            if self.slow.is_set():
                self.peak_while_slow = max(self.peak_while_slow, self.now)
            else:
                self.peak_while_fast = max(self.peak_while_fast, self.now)
        try:
            time.sleep(0.01)
            return self.inner.get(key, **kwargs)
        finally:
            with self.lock:
                self.now -= 1


def test_a_run_keeps_one_copy_in_flight_while_research_is_slow(tmp_path: Path) -> None:
    src, dst, journal = _planned(tmp_path, 12)
    watched = _InFlight(src)
    watched.slow.set()  # researchers' queries are over the target from the start
    pacer = LatencyPacer(lambda: 5.0, LatencyTarget(seconds=1.0), start=1, every_s=0.0)
    summary = run_migration(
        journal, RunOptions(concurrency=8, pacer=pacer), source=watched, dest=dst
    )
    assert summary.complete and summary.copied == 12  # held to its floor, it still finishes
    assert watched.peak_while_slow == 1  # one copy at a time while research is slow
    assert pacer.steps and {s.limit for s in pacer.steps} == {1}
    assert min(s.share for s in pacer.steps) == MIN_SHARE
    assert verify_migration(journal, deep=True).ok


def test_with_research_idle_the_run_climbs_to_its_concurrency(tmp_path: Path) -> None:
    src, dst, journal = _planned(tmp_path, 60)
    watched = _InFlight(src)
    pacer = LatencyPacer(lambda: None, LatencyTarget(ratio=2.0), start=1, every_s=0.0)
    summary = run_migration(
        journal, RunOptions(concurrency=8, pacer=pacer), source=watched, dest=dst
    )
    assert summary.complete
    assert max(s.limit for s in pacer.steps) >= 8  # all it may hold (queued ahead too)
    assert watched.peak_while_fast > 1
