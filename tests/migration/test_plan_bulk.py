"""The streaming plan: merge of sorted listings, one plan transaction, unfinished plans refused.

The plan is checked against the inventory-join diff it replaced (``_iter_diff`` below, once ``Journal.iter_diff``
over both listings loaded in SQLite), run on a copy of the same journal.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from passerelle.errors import ContainerNotFoundError, UsageError
from passerelle.migration import PlanOptions, plan_migration, replan
from passerelle.migration import planner as planner_module
from passerelle.migration.decide import Prior, Side, decide, map_storage_class
from passerelle.migration.journal import Journal
from passerelle.storage import StoreWrapper, open_store
from passerelle.storage.model import ObjectInfo

STAMP = datetime(2026, 11, 1, 12, 30, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


class Listed(StoreWrapper):
    """A store whose listing is ``infos`` in the given order, optionally failing after ``fail_after``."""

    def __init__(self, url: str, infos: list[ObjectInfo], fail_after: int | None = None) -> None:
        super().__init__(open_store(url))
        self.infos = infos
        self.fail_after = fail_after

    def list(
        self, prefix: str = "", *, page_size: int = 1000, details: bool = False
    ) -> Iterator[ObjectInfo]:
        for n, info in enumerate(self.infos):
            if self.fail_after is not None and n >= self.fail_after:
                raise ConnectionError("listing interrupted")
            yield info


def _info(key: str, size: int, etag: str, tier: str | None = None) -> ObjectInfo:
    return ObjectInfo(key=key, size=size, etag=etag, last_modified=STAMP, storage_class=tier)


def _rows(path: Path) -> list[tuple[Any, ...]]:
    j = Journal.open(path, allow_unfinished_plan=True)
    try:
        return [tuple(r.as_dict().values()) for r in j.iter_objects()]
    finally:
        j.close()


def _iter_diff(
    journal: Journal,
) -> Iterator[tuple[str, tuple[Any, ...] | None, tuple[Any, ...] | None, tuple[Any, ...] | None]]:
    """The previous planner's diff: every key of either side with (src row, dst row, prior object row).

    Source keys come first in key order, then keys only at the destination.
    """
    # Two index-ordered scans instead of a FULL OUTER JOIN sorted on an
    # expression: the first row streams at once and nothing is sorted.
    sql = """
        SELECT s.key,
               s.size, s.etag, s.modified, s.storage_class,
               d.size, d.etag,
               o.source_etag, o.size, o.dest_etag, o.sha256, o.status
        FROM inventory s
        LEFT JOIN inventory d ON d.side = 'dst' AND d.key = s.key
        LEFT JOIN objects o ON o.key = s.key
        WHERE s.side = 'src'
        UNION ALL
        SELECT d.key, NULL, NULL, NULL, NULL, d.size, d.etag,
               o.source_etag, o.size, o.dest_etag, o.sha256, o.status
        FROM inventory d
        LEFT JOIN objects o ON o.key = d.key
        WHERE d.side = 'dst'
          AND NOT EXISTS (SELECT 1 FROM inventory x WHERE x.side = 'src' AND x.key = d.key)
    """
    for row in journal._conn.execute(sql):
        key = row[0]
        src = None if row[1] is None else (row[1], row[2], row[3], row[4])
        dst = None if row[5] is None else (row[5], row[6])
        prior = None if row[11] is None else (row[7], row[8], row[9], row[10], row[11])
        yield key, src, dst, prior


def _drop_keys_absent_everywhere(journal: Journal) -> int:
    """Forget keys that are on neither side any more."""
    cur = journal._conn.execute(
        "DELETE FROM objects WHERE key NOT IN "
        "(SELECT key FROM inventory WHERE side IN ('src', 'dst'))"
    )
    return cur.rowcount


def _reference_plan(path: Path, src: list[ObjectInfo], dst: list[ObjectInfo]) -> None:
    """The previous planner: both listings into the inventory table, then ``iter_diff``."""
    j = Journal.open(path, allow_unfinished_plan=True)

    def pages(infos: list[ObjectInfo]) -> Iterator[list[tuple[Any, ...]]]:
        yield [(i.key, i.size, i.etag, i.last_modified.isoformat(), i.storage_class) for i in infos]

    j.replace_inventory("src", pages(src))
    j.replace_inventory("dst", pages(dst))
    reader = j.reader()
    batch = []
    for key, s, d, p in _iter_diff(reader):
        action, reason = decide(
            Side(s[0], s[1], s[3]) if s else None,
            Side(d[0], d[1]) if d else None,
            Prior(p[0], p[1], p[2], p[3]) if p else None,
        )
        size = s[0] if s else d[0]  # type: ignore[index]
        batch.append(
            (
                key,
                action.value,
                reason,
                planner_module._STATUS_FOR[action],
                size,
                s[1] if s else None,
                s[2] if s else None,
                s[3] if s else None,
                map_storage_class(s[3]) if s else None,
            )
        )
    reader.close()
    j.write_plan(batch)
    _drop_keys_absent_everywhere(j)
    j.close()


def _scenario(rng: random.Random, n: int) -> tuple[list[ObjectInfo], list[ObjectInfo]]:
    keys = sorted({f"d{rng.randrange(5)}/é{rng.randrange(10 * n):05d}" for _ in range(n)})
    tiers = [None, None, None, "Hot", "Cool", "Archive"]
    src = [
        _info(k, rng.randrange(1, 50), f'"{rng.randrange(3)}"', rng.choice(tiers))
        for k in keys
        if rng.random() < 0.8
    ]
    dst = [
        _info(k, rng.randrange(1, 50), f'"{rng.randrange(3)}"') for k in keys if rng.random() < 0.5
    ]
    return src, dst


def _prove_some(path: Path, rng: random.Random, dst: list[ObjectInfo]) -> None:
    """Record copies as a run would, some matching the destination's ETag and some not."""
    j = Journal.open(path)
    etag = {i.key: i.etag for i in dst}
    outcomes = []
    for row in j.iter_objects():
        if rng.random() < 0.6:
            outcomes.append(
                {
                    "key": row.key,
                    "status": "done",
                    "sha256": "ab" * 32,
                    "md5": "cd" * 16,
                    "dest_etag": etag.get(row.key, '"x"') if rng.random() < 0.8 else '"old"',
                }
            )
    j.record_outcomes(outcomes)
    j.close()


@pytest.mark.parametrize("seed", range(6))
def test_streaming_plan_writes_the_same_journal_as_the_inventory_join(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small pages and chunks, so reads and writes cross many batch boundaries.
    monkeypatch.setattr(planner_module, "PAGE", 7)
    monkeypatch.setattr(planner_module, "CHUNK", 5)
    rng = random.Random(seed)
    path = tmp_path / "j.db"
    src, dst = _scenario(rng, 120)
    for round_ in range(3):  # a first plan, then re-plans over proofs and changed listings
        if round_:
            _prove_some(path, rng, dst)
            src, dst = _scenario(random.Random(seed * 10 + round_), 120)
            src = src + [i for i in _scenario(rng, 40)[0] if i.key not in {s.key for s in src}]
            src.sort(key=lambda i: i.key)
        expected = tmp_path / f"expected{round_}.db"
        if path.exists():
            shutil.copy(path, expected)
        else:
            Journal.create(
                expected, source_url="memory://src", dest_url="memory://dst", options={}
            ).close()
        _reference_plan(expected, src, dst)
        summary = plan_migration(
            "memory://src",
            "memory://dst",
            path,
            PlanOptions(),
            source=Listed("memory://src", src),
            dest=Listed("memory://dst", dst),
        )
        assert _rows(path) == _rows(expected)
        n_blocked = sum(1 for i in src if i.storage_class == "Archive")
        assert summary.counts["blocked"][0] == n_blocked


def test_unsorted_or_repeated_listings_are_sorted_by_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(planner_module, "PAGE", 4)
    monkeypatch.setattr(planner_module, "CHUNK", 3)
    rng = random.Random(7)
    src, dst = _scenario(rng, 60)
    sorted_path, shuffled_path = tmp_path / "sorted.db", tmp_path / "shuffled.db"
    plan_migration(
        "memory://src",
        "memory://dst",
        sorted_path,
        source=Listed("memory://src", src),
        dest=Listed("memory://dst", dst),
    )
    shuffled_src, shuffled_dst = src[::-1], dst[5:] + dst[:5] + dst[:1]  # and one key twice
    summary = plan_migration(
        "memory://src",
        "memory://dst",
        shuffled_path,
        source=Listed("memory://src", shuffled_src),
        dest=Listed("memory://dst", shuffled_dst),
    )
    assert _rows(shuffled_path) == _rows(sorted_path)
    archived = {i.key for i in src if i.storage_class == "Archive"}
    assert summary.counts["copy"][0] == len({i.key for i in src} - {i.key for i in dst} - archived)
    j = Journal.open(shuffled_path)
    assert j.meta["inventory_src_count"] == str(len(src))
    j.close()


def test_a_first_plan_that_fails_leaves_a_journal_every_command_refuses(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    src = [_info(f"k{i:04d}", 10, f'"{i}"') for i in range(50)]
    with pytest.raises(ConnectionError):
        plan_migration(
            "memory://src",
            "memory://dst",
            path,
            source=Listed("memory://src", src, fail_after=30),
            dest=Listed("memory://dst", []),
        )
    with pytest.raises(UsageError, match=r"did not finish.*migrate plan memory://src"):
        Journal.open(path)
    assert _rows(path) == []  # the plan's transaction was rolled back as a whole
    summary = plan_migration(
        "memory://src",
        "memory://dst",
        path,
        source=Listed("memory://src", src),
        dest=Listed("memory://dst", []),
    )
    assert summary.counts["copy"][0] == 50
    assert Journal.open(path).plan_finished


def test_a_replan_that_fails_keeps_the_previous_plan_whole(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    src = [_info(f"k{i:04d}", 10, f'"{i}"') for i in range(40)]
    plan_migration(
        "memory://src",
        "memory://dst",
        path,
        source=Listed("memory://src", src),
        dest=Listed("memory://dst", src[:10]),
    )
    before = _rows(path)
    j = Journal.open(path)
    meta_before = dict(j.meta)
    changed = [_info(i.key, 99, '"new"') for i in src]
    with pytest.raises(ConnectionError):
        replan(
            j,
            source=Listed("memory://src", changed, fail_after=35),
            dest=Listed("memory://dst", []),
        )
    assert j.plan_finished and j.meta == meta_before
    j.close()
    assert _rows(path) == before
    assert Journal.open(path).meta == meta_before


class NoContainer(StoreWrapper):
    def list(
        self, prefix: str = "", *, page_size: int = 1000, details: bool = False
    ) -> Iterator[ObjectInfo]:
        raise ContainerNotFoundError("no such container")


@pytest.mark.parametrize("unsorted_source", [False, True])
def test_a_missing_destination_plans_everything_as_copies(
    unsorted_source: bool, tmp_path: Path
) -> None:
    src = [_info(f"k{i:04d}", 10, f'"{i}"') for i in range(20)]
    summary = plan_migration(
        "memory://src",
        "memory://dst",
        tmp_path / "j.db",
        source=Listed("memory://src", src[::-1] if unsorted_source else src),
        dest=NoContainer(open_store("memory://dst")),
    )
    assert not summary.dest_exists
    assert summary.counts["copy"][0] == 20


_KILLED_PLAN = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from passerelle.migration import plan_migration
    from passerelle.storage import StoreWrapper, open_store
    from passerelle.storage.model import ObjectInfo

    journal, marker = Path(sys.argv[1]), Path(sys.argv[2])
    stamp = datetime(2026, 11, 1, tzinfo=UTC)

    class Endless(StoreWrapper):
        def list(self, prefix="", *, page_size=1000, details=False):
            for i in range(10**9):
                if i == 30_000:
                    marker.write_text("planned 30,000 keys")
                yield ObjectInfo(key=f"k{i:09d}", size=10, etag=f'"{i}"', last_modified=stamp)
                if i >= 30_000:
                    time.sleep(0.01)

    plan_migration("memory://src", "memory://dst", journal,
                   source=Endless(open_store("memory://src")), dest=open_store("memory://dst"))
    """
)


def test_a_plan_killed_with_sigkill_is_detected_and_planned_again(tmp_path: Path) -> None:
    path, marker = tmp_path / "j.db", tmp_path / "marker"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    child = subprocess.Popen([sys.executable, "-c", _KILLED_PLAN, str(path), str(marker)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, "the plan ended before it was killed"
            assert time.monotonic() < deadline, "the plan never got going"
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with pytest.raises(UsageError, match="did not finish"):
        Journal.open(path)
    src = [_info(f"k{i:09d}", 10, f'"{i}"') for i in range(100)]
    summary = plan_migration(
        "memory://src",
        "memory://dst",
        path,
        source=Listed("memory://src", src),
        dest=Listed("memory://dst", []),
    )
    assert summary.counts["copy"][0] == 100
    j = Journal.open(path)
    assert j.plan_finished and j.counts()["pending"]["objects"] == 100
    j.close()


def test_journals_made_before_the_plan_mark_still_open(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal.create(path, source_url="memory://a", dest_url="memory://b", options={}).close()
    assert Journal.open(path).plan_finished


@pytest.mark.parametrize("tier", [None, "Hot", "archive", "GLACIER", "Deep_Archive"])
def test_a_key_at_the_source_only_is_decided_by_its_tier_alone(tier: str | None) -> None:
    from passerelle.migration.decide import decide_source_only

    prior = Prior('"e"', 5, '"d"', "ab" * 32)
    for p in (None, prior):
        assert decide(Side(5, '"e"', tier), None, p) == decide_source_only(tier)
