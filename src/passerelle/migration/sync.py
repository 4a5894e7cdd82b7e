"""Incremental passes: re-inventory, copy what is new or changed, optionally delete.

Deletions at the destination happen only when asked (``delete``) and never
beyond ``max_delete``: a sync that would delete more refuses before deleting
anything.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from passerelle.errors import PasserelleError, UsageError
from passerelle.migration.journal import Journal
from passerelle.migration.planner import PlanSummary, replan
from passerelle.migration.runner import (
    JournalLock,
    ProgressSink,
    RunOptions,
    RunSummary,
    run_migration,
)
from passerelle.storage import Store, open_store
from passerelle.storage.config import StorageConfig

__all__ = ["SyncSummary", "sync_migration"]


@dataclass(slots=True)
class SyncSummary:
    plan: PlanSummary
    run: RunSummary
    deleted: list[str] = field(default_factory=list)
    delete_failures: list[tuple[str, str]] = field(default_factory=list)
    extra_kept: int = 0

    @property
    def complete(self) -> bool:
        return self.run.complete and not self.delete_failures


def sync_migration(
    journal_path: str | Path,
    options: RunOptions | None = None,
    *,
    delete: bool = False,
    max_delete: int | None = None,
    config: StorageConfig | None = None,
    source: Store | None = None,
    dest: Store | None = None,
    progress: ProgressSink | None = None,
    stop: threading.Event | None = None,
) -> SyncSummary:
    """Bring the destination up to date with the source; see the module docstring."""
    options = options or RunOptions()
    journal = Journal.open(journal_path)
    try:
        with JournalLock(journal_path):
            plan = replan(journal, config=config, source=source, dest=dest)
            extras = [row.key for row in journal.iter_objects("status = 'extra'")]
            if delete and max_delete is not None and len(extras) > max_delete:
                raise UsageError(
                    f"Sync would delete {len(extras)} objects at the destination, more than "
                    f"--max-delete {max_delete}; check the plan or raise the limit."
                )
    finally:
        journal.close()
    run = run_migration(
        journal_path,
        options,
        config=config,
        source=source,
        dest=dest,
        progress=progress,
        stop=stop,
    )
    summary = SyncSummary(plan=plan, run=run, extra_kept=0 if delete else len(extras))
    if delete and extras:
        dst = dest or open_store(plan.dest_url, config=config)
        journal = Journal.open(journal_path)
        try:
            with JournalLock(journal_path):
                for key in extras:
                    try:
                        dst.delete(key)
                    except PasserelleError as exc:
                        summary.delete_failures.append((key, str(exc)))
                    else:
                        summary.deleted.append(key)
                journal.set_status(summary.deleted, "deleted")
        finally:
            journal.close()
    return summary
