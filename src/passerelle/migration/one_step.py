"""Plan and copy in one step: ``passerelle migrate copy SRC DST --journal J``.

One process lists both sides, writes the plan into the journal and copies what
it found, so a migration pays one process start and one set of opened stores
(the two-step ``plan`` + ``run`` pays both twice).  The journal is the same as
the two-step one: ``status``, ``verify``, ``report`` and ``sync`` work on it.

Re-running the same command continues.  When the journal already holds work an
earlier (perhaps killed) run left, that work is settled and finished first, the
way ``migrate run`` does it (claimed keys checked at the destination, journaled
uploads resumed), and only then are both sides listed again for what is new.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from passerelle.migration.journal import Journal
from passerelle.migration.planner import PlanOptions, PlanSummary, plan_migration
from passerelle.migration.runner import ProgressSink, RunOptions, RunSummary, run_migration
from passerelle.storage.config import StorageConfig

__all__ = ["CopySummary", "copy_store"]


@dataclass(frozen=True, slots=True)
class CopySummary:
    """One ``migrate copy``: the earlier run's rest (if any), then the plan and the copy.

    ``plan`` is ``None`` when the rest could not be finished (it stopped, or
    left failures): nothing was listed again, and ``run`` is that rest.
    """

    plan: PlanSummary | None
    run: RunSummary
    resumed: RunSummary | None = None


def _unfinished_work(journal_path: Path) -> bool:
    """Whether the journal holds a finished plan with keys still pending or claimed."""
    if not journal_path.is_file():
        return False
    journal = Journal.open(journal_path, allow_unfinished_plan=True)
    try:
        if not journal.plan_finished:
            return False  # the plan itself was cut short: planning again is the resume
        counts = journal.counts()
        return any(counts.get(s, {"objects": 0})["objects"] for s in ("pending", "copying"))
    finally:
        journal.close()


def copy_store(
    source_url: str,
    dest_url: str,
    journal_path: str | Path,
    plan: PlanOptions | None = None,
    run: RunOptions | None = None,
    *,
    config: StorageConfig | None = None,
    progress: ProgressSink | None = None,
    stop: threading.Event | None = None,
) -> CopySummary:
    """Plan ``source_url`` -> ``dest_url`` into ``journal_path`` and copy it, in this process."""
    path = Path(journal_path)
    plan = plan or PlanOptions()
    run = run or RunOptions()
    resumed = None
    if _unfinished_work(path):
        resumed = run_migration(path, run, config=config, stop=stop)
        if not resumed.complete or (stop and stop.is_set()):
            return CopySummary(None, resumed, resumed)
    planned = plan_migration(source_url, dest_url, path, plan, config=config)
    copied = run_migration(path, run, config=config, progress=progress, stop=stop)
    return CopySummary(planned, copied, resumed)
