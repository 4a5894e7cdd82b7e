"""The hub's move yields to research, from latencies the hub measured itself.

On SQLite and PostgreSQL: the idle p95 is taken from the queries that finished before the
move began, the recent one from the last seconds; a move while research is slow keeps one
copy in flight and still finishes; ``--latency-target`` as typed.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from passerelle.hub.rules import Principal
from passerelle.hub.tables import QueryRecord
from passerelle.live import cutover, move_status, run_backlog, start_move
from passerelle.live.research_latency import ResearchLatency, p95, research_pacer
from passerelle.migration.pacing import LatencyPacer, LatencyTarget
from passerelle.storage import Store, StoreWrapper
from tests.cli.test_storage_commands import assert_one_sentence, run_cli
from tests.hub.conftest import Cast, approved_project, cast, db_kind

__all__ = ["cast", "db_kind"]  # the hub's fixtures, on SQLite and PostgreSQL


def _record(
    c: Cast, project: int, seconds: float, ago: timedelta, who: Principal | None = None
) -> None:
    """A query record as the hub writes it once a query is done (its measured duration)."""
    with c.hub.transaction() as session:
        session.add(
            QueryRecord(
                project_id=project,
                user_id=(who or c.alice).user_id,
                sql="SELECT 1",
                digest="0" * 64,
                datasets=[],
                rows=1,
                truncated=False,
                result_key="workspaces/x",
                duration_s=seconds,
                created_at=c.clock.now - ago,
            )
        )


def test_p95_is_the_nearest_rank() -> None:
    assert p95([]) is None
    assert p95([0.3]) == 0.3
    assert p95([float(i) for i in range(1, 101)]) == 95.0
    assert p95([1.0, 9.0]) == 9.0


def test_idle_and_recent_latencies_come_from_the_hubs_records(cast: Cast, tmp_path: Path) -> None:
    pid = approved_project(cast)
    latency = ResearchLatency(cast.hub, window_s=10)
    assert latency.idle_p95() is None and latency.recent_p95() is None
    for i in range(20):
        _record(cast, pid, 0.1 + i / 1000, timedelta(hours=1, seconds=i))  # before the move
    _record(cast, pid, 50.0, timedelta(days=8))  # too old to say what idle is now
    start_move(cast.hub, cast.operator, f"file://{tmp_path / 'b'}")
    began = latency.move_began()
    assert began is not None
    cast.clock.now += timedelta(minutes=5)
    for s in (0.9, 1.2, 0.8):
        _record(cast, pid, s, timedelta(seconds=3))  # during the move, just now
    _record(cast, pid, 30.0, timedelta(minutes=2))  # during the move, out of the window
    assert latency.idle_p95() == pytest.approx(0.118)  # the 19th of 20
    assert latency.recent_p95() == 1.2
    pacer = research_pacer(cast.hub, LatencyTarget(ratio=2.0), every_s=0.0)
    assert pacer.bound == pytest.approx(0.236)
    assert pacer.limit(16) == 1  # 1.2 s against a bound of 0.24 s: back off


def test_one_researchers_flood_of_quick_queries_does_not_hide_anothers_slow_ones(
    cast: Cast, tmp_path: Path
) -> None:
    pid = approved_project(cast)
    start_move(cast.hub, cast.operator, f"file://{tmp_path / 'b'}")
    cast.clock.now += timedelta(minutes=1)
    for _ in range(3):
        _record(cast, pid, 2.0, timedelta(seconds=2), cast.bob)  # bob waits 2 s a query
    for _ in range(400):
        _record(cast, pid, 0.01, timedelta(seconds=1))  # alice floods with trivial queries
    assert ResearchLatency(cast.hub, window_s=5).recent_p95() == 2.0  # bob's, not alice's


def test_the_recorded_duration_is_the_wait_not_only_the_sandbox(cast: Cast) -> None:
    from passerelle.workspace import run_query

    pid = approved_project(cast)
    slow = _SlowPuts(cast.hub.store())
    cast.hub.store = lambda *a, **k: slow  # type: ignore[method-assign]
    view, _ = run_query(cast.hub, cast.alice, pid, "SELECT 1 AS one")
    assert slow.puts == 1  # the result was written through the slowed store
    assert view.duration_s >= _SlowPuts.DELAY_S  # and that wait is in the record


class _SlowPuts(StoreWrapper):
    """A store whose writes take a while, as a store busy with a move's copies would."""

    DELAY_S = 0.3

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.puts = 0

    def put(self, key: str, data: Any, **kwargs: Any) -> Any:
        import time

        self.puts += 1
        time.sleep(self.DELAY_S)
        return self.inner.put(key, data, **kwargs)


def test_a_move_while_research_is_slow_keeps_one_copy_and_finishes(
    cast: Cast, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = approved_project(cast)
    store = cast.hub.store()
    for i in range(40):
        store.put(f"datasets/d/part-{i}.bin", bytes([i]) * 2000, size=2000)
    for _ in range(10):
        _record(cast, pid, 0.1, timedelta(hours=1))
    start_move(cast.hub, cast.operator, f"file://{tmp_path / 'b'}")
    cast.clock.now += timedelta(minutes=1)
    for _ in range(5):
        _record(cast, pid, 2.0, timedelta(seconds=1))  # research is 20x slower than idle
    built: list[LatencyPacer] = []

    def spy(*args: Any, **kwargs: Any) -> LatencyPacer:
        built.append(research_pacer(*args, **{**kwargs, "every_s": 0.0}))
        return built[-1]

    monkeypatch.setattr("passerelle.live.research_latency.research_pacer", spy)
    # The test clock stands still, so the slow queries stay "recent" for the whole run.
    summary = run_backlog(cast.hub, cast.operator)  # the default target: 2x the idle p95
    assert summary.complete and summary.copied >= 40
    assert move_status(cast.hub).phase == "mirroring"
    (pacer,) = built
    assert pacer.bound == pytest.approx(0.2)
    assert pacer.steps and {s.limit for s in pacer.steps} == {1}
    assert {s.observed_p95 for s in pacer.steps} == {2.0}

    evidence = cutover(cast.hub, cast.operator)  # its final sync and deep verify yield too
    assert evidence.ok and evidence.verified >= 40
    sync_pacer, verify_pacer = built[1:]
    assert verify_pacer.steps and {s.limit for s in verify_pacer.steps} == {1}
    assert {s.limit for s in sync_pacer.steps} <= {1}


def test_with_the_target_off_the_move_is_not_paced(
    cast: Cast, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "passerelle.live.research_latency.research_pacer",
        lambda *a, **k: pytest.fail("no pacer for --latency-target off"),
    )
    cast.hub.store().put("datasets/d/x.bin", b"x", size=1)
    start_move(cast.hub, cast.operator, f"file://{tmp_path / 'b'}")
    assert run_backlog(cast.hub, cast.operator, latency_target=None).complete


def test_a_latency_target_that_makes_no_sense_is_refused_before_anything_moves(
    cast: Cast,
) -> None:
    env = {"PASSERELLE_HUB": str(cast.hub.config.directory)}
    proc = run_cli(
        "hub",
        "migrate",
        "run",
        "--latency-target",
        "fast",
        "--token",
        cast.tokens["operator"],
        env=env,
    )
    assert_one_sentence(proc, "latency target")
