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
    LatencyPacer,
    LatencyTarget,
    next_limit,
    parse_latency_target,
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
        (1, 9.0, 1.0, 16, 1),  # never under one copy: the move finishes
        (4, 0.2, 1.0, 16, 8),  # far under: double
        (12, 0.1, 1.0, 16, 16),  # ... up to the capacity
        (4, 0.6, 1.0, 16, 5),  # under 80 %: one more
        (4, 0.9, 1.0, 16, 4),  # near the bound: hold
        (4, None, 1.0, 16, 8),  # no query lately: speed up
        (4, 0.3, None, 16, 8),  # nothing to compare with: speed up
        (40, 2.0, 1.0, 16, 8),  # a current above the capacity is first cut to it
    ],
)
def test_next_limit(
    current: int, observed: float | None, bound: float | None, capacity: int, expected: int
) -> None:
    assert next_limit(current, observed, bound, capacity) == expected


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
    assert pacer.limit(16) == 4
    assert pacer.limit(16) == 4  # same period: no new decision
    seen[0] = 3.0
    now[0] = 2.0
    assert pacer.limit(16) == 2
    assert pacer.limit(1) == 1  # never above what the executor can hold
    assert [s.limit for s in pacer.steps] == [4, 2]


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
    src = open_store(new_store_url("file", tmp_path / "a", "src"))
    dst = open_store(new_store_url("file", tmp_path / "b", "dst"))
    populate(src, 60, large=0)
    journal = tmp_path / "j.db"
    plan_migration(src.url, dst.url, journal, PlanOptions(part_size=5 * MiB))
    watched = _InFlight(src)
    watched.slow.set()  # researchers' queries are over the target from the start
    pacer = LatencyPacer(lambda: 5.0, LatencyTarget(seconds=1.0), start=1, every_s=0.0)
    summary = run_migration(
        journal, RunOptions(concurrency=8, pacer=pacer), source=watched, dest=dst
    )
    assert summary.complete and summary.copied == 60
    assert watched.peak_while_slow == 1  # one copy at a time while research is slow
    assert pacer.steps and {s.limit for s in pacer.steps} == {1}
    assert verify_migration(journal, deep=True).ok


def test_with_research_idle_the_run_climbs_to_its_concurrency(tmp_path: Path) -> None:
    src = open_store(new_store_url("file", tmp_path / "a", "src"))
    dst = open_store(new_store_url("file", tmp_path / "b", "dst"))
    populate(src, 60, large=0)
    journal = tmp_path / "j.db"
    plan_migration(src.url, dst.url, journal, PlanOptions(part_size=5 * MiB))
    watched = _InFlight(src)
    pacer = LatencyPacer(lambda: None, LatencyTarget(ratio=2.0), start=1, every_s=0.0)
    summary = run_migration(
        journal, RunOptions(concurrency=8, pacer=pacer), source=watched, dest=dst
    )
    assert summary.complete
    assert max(s.limit for s in pacer.steps) >= 8  # all it may hold (queued ahead too)
    assert watched.peak_while_fast > 1
