"""The migration engine end to end on real pairs: memory/file and Azurite -> Ceph RGW / SeaweedFS."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from passerelle.errors import PermissionDeniedError, UsageError
from passerelle.migration import (
    RunOptions,
    plan_migration,
    run_migration,
    sync_migration,
    verify_migration,
)
from passerelle.migration.journal import Journal
from passerelle.migration.planner import PlanOptions
from passerelle.storage import FaultPlan, StoreWrapper
from passerelle.storage.base import ObjectReader, PutData
from passerelle.storage.model import MiB, PutResult
from passerelle.storage.retry import RetryPolicy

from .conftest import Pair, assert_proven_copy, populate

FAST_RETRY = RetryPolicy(max_attempts=10, base_s=0.001, cap_s=0.01)
SMALL_PARTS = PlanOptions(part_size=5 * MiB)


def migrate(pair: Pair, **run: object) -> None:
    plan_migration(
        pair.src_url, pair.dst_url, pair.journal, SMALL_PARTS, source=pair.src, dest=pair.dst
    )
    summary = run_migration(
        pair.journal,
        RunOptions(retry=FAST_RETRY, **run),  # type: ignore[arg-type]
        source=pair.src,
        dest=pair.dst,
    )
    assert summary.complete, (summary.failed, summary.changed)


def test_full_migration_is_proven_and_idempotent(pair: Pair) -> None:
    objects = populate(pair.src)
    plan = plan_migration(
        pair.src_url, pair.dst_url, pair.journal, SMALL_PARTS, source=pair.src, dest=pair.dst
    )
    assert plan.to_copy == (len(objects), sum(len(v) for v in objects.values()))
    summary = run_migration(pair.journal, RunOptions(concurrency=8), source=pair.src, dest=pair.dst)
    assert summary.complete and summary.copied == len(objects)
    assert_proven_copy(pair.dst, objects)
    info = pair.dst.head("pmsi/1/extract 0001.csv")
    assert info.content_type == "text/csv"
    assert (info.metadata or {}).get("source_row") == "1"
    for deep in (False, True):
        report = verify_migration(pair.journal, deep=deep, source=pair.src, dest=pair.dst)
        assert report.ok, list(report.problems())
        assert report.verified == len(objects)
    again = run_migration(pair.journal, source=pair.src, dest=pair.dst)
    assert again.copied == 0
    replanned = plan_migration(
        pair.src_url, pair.dst_url, pair.journal, SMALL_PARTS, source=pair.src, dest=pair.dst
    )
    assert replanned.counts["identical"][0] == len(objects)
    assert replanned.to_copy == (0, 0)


def test_sync_converges_and_deletes_only_when_asked(pair: Pair) -> None:
    objects = populate(pair.src, 20, large=0)
    migrate(pair)
    pair.src.put("new/arrival.csv", b"fresh rows\n")
    pair.src.put("pmsi/1/extract 0001.csv", b"rewritten at the source")
    pair.src.delete("pmsi/2/extract 0002.csv")
    summary = sync_migration(
        pair.journal, RunOptions(retry=FAST_RETRY), source=pair.src, dest=pair.dst
    )
    assert summary.run.copied == 2 and summary.extra_kept == 1 and not summary.deleted
    report = verify_migration(pair.journal, source=pair.src, dest=pair.dst)
    assert report.extra == ["pmsi/2/extract 0002.csv"] and not report.ok
    with pytest.raises(UsageError, match="more than --max-delete 0"):
        sync_migration(pair.journal, delete=True, max_delete=0, source=pair.src, dest=pair.dst)
    assert pair.dst.head("pmsi/2/extract 0002.csv").size == len(objects["pmsi/2/extract 0002.csv"])
    summary = sync_migration(
        pair.journal, delete=True, max_delete=5, source=pair.src, dest=pair.dst
    )
    assert summary.deleted == ["pmsi/2/extract 0002.csv"]
    report = verify_migration(pair.journal, deep=True, source=pair.src, dest=pair.dst)
    assert report.ok, list(report.problems())
    assert pair.dst.get("pmsi/1/extract 0001.csv").read() == b"rewritten at the source"


def test_ten_percent_transient_failures_still_complete(pair: Pair) -> None:
    objects = populate(pair.src, 80, large=1)
    plan_migration(
        pair.src_url, pair.dst_url, pair.journal, SMALL_PARTS, source=pair.src, dest=pair.dst
    )
    chaos = FaultPlan(seed=11, transient=0.1, throttle=0.02, truncate=0.02)
    summary = run_migration(
        pair.journal, RunOptions(faults=chaos, retry=FAST_RETRY), source=pair.src, dest=pair.dst
    )
    assert summary.complete, summary.failed
    assert summary.retries > 0
    assert_proven_copy(pair.dst, objects)
    assert verify_migration(pair.journal, deep=True, source=pair.src, dest=pair.dst).ok


class _ChangesUnderneath(StoreWrapper):
    """A source whose objects change or vanish just as the copy starts reading them."""

    def get(self, key: str, **kwargs: object) -> ObjectReader:  # type: ignore[override]
        if key == "pmsi/0/extract 0000.csv" and not getattr(self, "done0", False):
            self.done0 = True
            self.inner.put(key, b"a concurrent writer changed this")
        if key == "pmsi/1/extract 0001.csv" and not getattr(self, "done1", False):
            self.done1 = True
            self.inner.delete(key)
        return self.inner.get(key, **kwargs)  # type: ignore[arg-type]


def test_source_changes_during_copy_are_never_recorded_done(pair: Pair) -> None:
    populate(pair.src, 12, large=0)
    plan_migration(pair.src_url, pair.dst_url, pair.journal, source=pair.src, dest=pair.dst)
    changing = _ChangesUnderneath(pair.src)
    summary = run_migration(pair.journal, source=changing, dest=pair.dst)
    assert sorted(k for k, _ in summary.changed) == [
        "pmsi/0/extract 0000.csv",
        "pmsi/1/extract 0001.csv",
    ]
    assert not summary.complete
    journal = Journal.open(pair.journal)
    assert journal.get("pmsi/0/extract 0000.csv").status == "changed"  # type: ignore[union-attr]
    journal.close()
    assert not verify_migration(pair.journal, source=pair.src, dest=pair.dst).ok
    sync = sync_migration(pair.journal, source=pair.src, dest=pair.dst)
    assert sync.complete
    report = verify_migration(pair.journal, deep=True, source=pair.src, dest=pair.dst)
    assert report.ok, list(report.problems())
    assert pair.dst.get("pmsi/0/extract 0000.csv").read() == b"a concurrent writer changed this"


def test_same_size_overwrite_at_destination_is_caught(pair: Pair) -> None:
    objects = populate(pair.src, 10, large=0)
    migrate(pair)
    key = "pmsi/3/extract 0003.csv"
    original = objects[key]
    assert len(original) > 0
    forged = bytes(b ^ 0xFF for b in original)
    meta = dict(pair.dst.head(key).metadata or {})
    pair.dst.put(key, forged, content_type="text/csv", metadata=meta)  # digests kept: a forgery
    fast = verify_migration(pair.journal, source=pair.src, dest=pair.dst)
    assert [k for _, k in fast.problems()] == [key]
    deep = verify_migration(pair.journal, deep=True, source=pair.src, dest=pair.dst)
    assert deep.digest_mismatch == [key]
    assert not deep.ok


class _RefusesOneKey(StoreWrapper):
    def put(self, key: str, data: PutData, **kwargs: object) -> PutResult:  # type: ignore[override]
        if key.endswith("0005.csv"):
            raise PermissionDeniedError(f"Permission denied to write {self.url}/{key}.")
        return self.inner.put(key, data, **kwargs)  # type: ignore[arg-type]


def test_a_terminal_error_on_one_object_does_not_stop_the_rest(pair: Pair) -> None:
    objects: Mapping[str, bytes] = populate(pair.src, 10, large=0)
    plan_migration(pair.src_url, pair.dst_url, pair.journal, source=pair.src, dest=pair.dst)
    summary = run_migration(pair.journal, source=pair.src, dest=_RefusesOneKey(pair.dst))
    assert [k for k, _ in summary.failed] == ["pmsi/1/extract 0005.csv"]
    assert "Permission denied" in summary.failed[0][1]
    assert summary.copied == len(objects) - 1
    retry = run_migration(pair.journal, source=pair.src, dest=pair.dst)
    assert retry.copied == 1 and retry.complete
    assert verify_migration(pair.journal, source=pair.src, dest=pair.dst).ok
