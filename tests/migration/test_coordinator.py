"""The coordinator: one listing of uploads after a crash, lost tasks queued again, and a run
that is complete only when the journal has nothing left to do."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from passerelle.migration import RunOptions, plan_migration, run_migration, verify_migration
from passerelle.migration.copy_task import CopyOutcome, CopyTask
from passerelle.migration.executor import ThreadExecutor
from passerelle.migration.journal import Journal
from passerelle.migration.planner import PlanOptions
from passerelle.storage import Store, StoreWrapper, open_store
from passerelle.storage.model import MiB
from passerelle.storage.retry import RetryPolicy
from tests.backends import new_store_url
from tests.cli.test_storage_commands import assert_one_sentence, run_cli

from .conftest import populate

FAST = RetryPolicy(max_attempts=3, base_s=0.001, cap_s=0.01)


class _Counting(StoreWrapper):
    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.calls: Counter[str] = Counter()

    def before(self, op: str, key: str | None) -> None:
        self.calls[op] += 1


def _planned(tmp_path: Path, count: int = 12) -> tuple[Store, Store, Path]:
    src = open_store(new_store_url("file", tmp_path / "a", "src"))
    dst = open_store(new_store_url("file", tmp_path / "b", "dst"))
    populate(src, count, large=0)
    journal = tmp_path / "j.db"
    plan_migration(src.url, dst.url, journal, PlanOptions(part_size=5 * MiB))
    return src, dst, journal


def test_after_a_crash_uploads_are_listed_once_and_only_leftovers_aborted(
    tmp_path: Path,
) -> None:
    src, dst, journal = _planned(tmp_path)
    j = Journal.open(journal)
    claimed = j.claim_batch("", 100)  # as a run killed with kill -9 leaves them
    j.close()
    assert len(claimed) == 12
    root = Path(dst.url.removeprefix("file://"))
    leftover = root / "pmsi" / "1" / "extract 0001.csv#7"  # an upload it was writing
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half")
    counting = _Counting(dst)
    summary = run_migration(journal, RunOptions(retry=FAST), source=src, dest=counting)
    assert summary.complete and summary.copied == 12
    assert counting.calls["abort"] == 1  # not one per claimed key
    assert not leftover.exists()
    assert verify_migration(journal, deep=True).ok


def test_objects_left_changed_by_an_earlier_run_make_the_run_incomplete(
    tmp_path: Path,
) -> None:
    _src, _dst, journal = _planned(tmp_path, 6)
    j = Journal.open(journal)
    j.claim_batch("", 100)
    j.record_outcomes(
        [{"key": "pmsi/2/extract 0002.csv", "status": "changed", "error": "the source changed"}]
    )
    j.close()
    summary = run_migration(journal, RunOptions(retry=FAST))
    assert summary.copied == 5 and not summary.changed and summary.remaining == 0
    assert summary.changed_earlier == 1
    assert summary.changed_earlier_keys == [("pmsi/2/extract 0002.csv", "the source changed")]
    assert not summary.complete
    result = run_cli("migrate", "run", "--journal", str(journal))
    assert result.returncode == 1
    assert_one_sentence(
        result,
        "1 objects are still marked changed by an earlier run",
        "first pmsi/2/extract 0002.csv",
        "passerelle migrate sync",
    )


class _LosesFirstTry(ThreadExecutor):
    """A thread pool whose 'worker' dies under the first task of every key."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.seen: set[str] = set()
        self.lost: list[CopyOutcome] = []

    def submit(self, task: CopyTask) -> None:
        if task.key in self.seen:
            super().submit(task)
            return
        self.seen.add(task.key)
        self.lost.append(CopyOutcome(task.key, task.size, "lost", error="worker died"))

    def finished(self, timeout: float) -> list[CopyOutcome]:
        lost, self.lost = self.lost, []
        return lost + super().finished(0.01 if lost else timeout)


def test_tasks_lost_with_their_worker_are_copied_again_in_the_same_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from passerelle.migration import runner

    _src, _dst, journal = _planned(tmp_path, 8)
    monkeypatch.setattr(runner, "ThreadExecutor", _LosesFirstTry)
    summary = run_migration(journal, RunOptions(retry=FAST))
    assert summary.complete and summary.copied == 8
    assert verify_migration(journal, deep=True).ok
    j = Journal.open(journal)
    try:
        assert {row.attempts for row in j.iter_objects()} == {2}
    finally:
        j.close()


def test_stores_given_in_code_cannot_go_to_dask_workers(tmp_path: Path) -> None:
    from passerelle.errors import UsageError

    src, dst, journal = _planned(tmp_path, 2)
    with pytest.raises(UsageError, match="open the stores from the journal's URLs"):
        run_migration(journal, RunOptions(workers=2), source=src, dest=dst)
