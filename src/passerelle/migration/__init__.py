"""The migration engine: inventory, plan, verified parallel copy, resume, sync, report.

Every command works from one SQLite journal (:class:`Journal`) and can be re-run
at any time.  Decisions (:mod:`~passerelle.migration.decide`,
:mod:`~passerelle.migration.estimate`) are pure; the planner, runner, verifier
and reporter do the I/O.
"""

from passerelle.migration.copy import CopyResult, hash_object, stream_copy
from passerelle.migration.decide import Action, KeyFilter, decide, map_storage_class
from passerelle.migration.estimate import Estimate, estimate_migration, parse_rate
from passerelle.migration.journal import Journal
from passerelle.migration.planner import PlanOptions, PlanSummary, plan_migration, replan
from passerelle.migration.report import MigrationStatus, migration_status, write_report
from passerelle.migration.runner import ProgressSink, RunOptions, RunSummary, run_migration
from passerelle.migration.sync import SyncSummary, sync_migration
from passerelle.migration.verify import VerifyReport, verify_migration

__all__ = [
    "Action",
    "CopyResult",
    "Estimate",
    "Journal",
    "KeyFilter",
    "MigrationStatus",
    "PlanOptions",
    "PlanSummary",
    "ProgressSink",
    "RunOptions",
    "RunSummary",
    "SyncSummary",
    "VerifyReport",
    "decide",
    "estimate_migration",
    "hash_object",
    "map_storage_class",
    "migration_status",
    "parse_rate",
    "plan_migration",
    "replan",
    "run_migration",
    "stream_copy",
    "sync_migration",
    "verify_migration",
    "write_report",
]
