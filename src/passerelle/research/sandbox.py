"""Run one researcher query in a throw-away DuckDB, in a child process, over the granted datasets.

Three walls: :func:`passerelle.research.guard.check_sql` refuses on the SQL text
alone, in this process, before anything else happens; the parent then copies the
granted Parquet from the store into local files (only the granted columns of a
column-subset grant; the hub's :class:`ScanCache` keeps them between queries);
and the query runs in a child process (:mod:`passerelle.research.child`) that
holds no store credential, reads only those files, and whose memory, CPU and
file sizes the operating system caps, killed at the deadline.  Inside it DuckDB
is locked as before (``enable_external_access = false``, ``allowed_paths`` the
copies only, ``lock_configuration = true``, no extensions, no replacement
scans, nothing spilled).  Errors come back by kind with a message that carries
no data value (:mod:`passerelle.research.redaction`).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from passerelle.errors import QueryError, SandboxViolation, UsageError
from passerelle.research.guard import Refusal, check_sql, statement_digest
from passerelle.research.parquet_source import TableSource, copy_to_folder, parquet_keys
from passerelle.research.redaction import fixed_message

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

    from passerelle.research.child import ChildPool, ChildReport
    from passerelle.research.scan_cache import ScanCache

__all__ = ["QueryLimits", "QueryOutcome", "run_sandboxed"]


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """Resource limits of one query; a hub caps them (``[research]`` in ``hub.toml``).

    ``memory_mb`` is the child process's address space above what the
    interpreter and DuckDB map before the query (the kernel refuses more);
    DuckDB's own ``memory_limit`` is three quarters of it.  ``timeout_s`` runs
    from the moment the child takes the query; at the deadline it is killed.
    ``row_limit_action``: at ``max_rows``, ``"truncate"`` keeps the first
    ``max_rows`` rows and sets :attr:`QueryOutcome.truncated`; ``"refuse"``
    raises :class:`SandboxViolation` (reason ``row-limit``) and returns nothing.
    """

    max_rows: int = 100_000
    timeout_s: float = 60.0
    memory_mb: int = 2048
    threads: int = 2
    row_limit_action: Literal["truncate", "refuse"] = "truncate"
    max_sql_chars: int = 100_000

    def __post_init__(self) -> None:
        if self.max_rows < 1 or not self.timeout_s > 0 or self.threads < 1 or self.memory_mb < 16:
            raise UsageError(
                "Query limits must be positive (max_rows, timeout_s, threads; memory_mb >= 16)."
            )
        if self.row_limit_action not in ("truncate", "refuse"):
            raise UsageError("row_limit_action must be 'truncate' or 'refuse'.")


@dataclass(frozen=True)
class QueryOutcome:
    """What one query did, with everything the audit log records.

    ``decision`` is ``allowed``, ``refused`` (a sandbox rule or limit, ``reason``
    names it) or ``error`` (DuckDB could not run a permitted query).  ``kind``
    says when it failed (``rule``, ``syntax``, ``binding``, ``data``,
    ``resource``, ``engine``); ``message`` never holds a data value.  ``result``
    is only set when allowed.  ``child_pid`` and ``child_signal`` say which
    process ran it and how it ended; ``peak_memory_bytes`` is its peak RSS.
    """

    digest: str
    tables: tuple[str, ...]
    decision: Literal["allowed", "refused", "error"]
    reason: str | None = None
    message: str | None = None
    rows: int = 0
    truncated: bool = False
    duration_s: float = 0.0
    result: pa.Table | None = field(default=None, repr=False)
    kind: str | None = None
    peak_memory_bytes: int = 0
    child_pid: int | None = None
    child_signal: str | None = None

    def audit_details(self) -> dict[str, Any]:
        """The JSON-ready fields an audit entry carries (never the result rows)."""
        return {
            "statement_sha256": self.digest,
            "datasets": list(self.tables),
            "decision": self.decision,
            "reason": self.reason,
            "kind": self.kind,
            "message": self.message,
            "rows": self.rows,
            "truncated": self.truncated,
            "duration_s": round(self.duration_s, 6),
            "peak_memory_mb": round(self.peak_memory_bytes / 2**20, 1),
        }


def run_sandboxed(
    sql: str,
    tables: Mapping[str, TableSource],
    limits: QueryLimits | None = None,
    cache: ScanCache | None = None,
    pool: ChildPool | None = None,
) -> QueryOutcome:
    """Run ``sql`` over the granted ``tables`` (name -> source) and return its outcome.

    With a ``cache``, the local copies of the granted files are kept in it and
    reused by later queries; without, they are made in the child's private
    folder and removed with it.  With a ``pool``, the query runs in a child
    started ahead (DuckDB already imported); without, a child is started for it.

    Raises :class:`SandboxViolation` (``.reason`` a stable code, ``.details`` the
    refused :class:`QueryOutcome`) for anything the sandbox refuses or stops, and
    :class:`QueryError` (same attributes) when DuckDB cannot run a permitted query.
    """
    from passerelle.research.child import ChildJob, run_in_child, spawn_child

    limits = limits or QueryLimits()
    started = time.perf_counter()
    if len(sql) > limits.max_sql_chars:
        _refuse(
            Refusal("sql-size", f"The query is longer than {limits.max_sql_chars} characters."),
            sql,
            (),
            started,
        )
    check = check_sql(sql, set(tables))
    if check.refusal is not None:
        syntax = check.refusal.reason == "syntax"
        _refuse(
            check.refusal,
            sql,
            (),
            started,
            decision="error" if syntax else "refused",
            kind="syntax" if syntax else "rule",
        )
    used = {name: tables[name] for name in check.tables}
    listed = {name: parquet_keys(source) for name, source in used.items()}
    child = pool.take() if pool is not None else spawn_child()  # importing while files copy
    held: list[Path] = []
    try:
        local = _local_tables(used, listed, child.workdir, cache, held)
        job = ChildJob(
            sql, local, limits.threads, limits.memory_mb * 2**20, limits.max_rows, limits.timeout_s
        )
        report = run_in_child(child, job)
        return _outcome(report, sql, check.tables, check.digest, limits, started)
    finally:
        child.close()
        if cache is not None:
            cache.release(held)
        if pool is not None:
            pool.refill()


def _local_tables(
    tables: Mapping[str, TableSource],
    listed: Mapping[str, Mapping[str, int]],
    workdir: Path,
    cache: ScanCache | None,
    held: list[Path],
) -> dict[str, list[str]]:
    """Local Parquet files of each table (granted columns only): cached (and appended to
    ``held``: kept from eviction until the query is over), or in ``workdir``."""
    local = {}
    for index, (name, source) in enumerate(tables.items()):
        if cache is not None:
            paths = cache.fetch(source, listed[name], hold=True)
            held.extend(paths)
        else:
            folder = workdir / "data" / str(index)
            folder.mkdir(parents=True)
            paths = copy_to_folder(source, folder, listed[name])
        local[name] = [str(p) for p in paths]
    return local


def _outcome(
    report: ChildReport,
    sql: str,
    touched: tuple[str, ...],
    digest: str,
    limits: QueryLimits,
    started: float,
) -> QueryOutcome:
    import pyarrow as pa

    status = report.status or {}
    process = {
        "peak_memory_bytes": report.peak_rss_bytes,
        "child_pid": report.pid,
        "child_signal": report.signal,
    }
    if report.result_path is None:
        error = _failure(report, limits)
        _refuse(
            Refusal(error[1], error[2]),
            sql,
            touched,
            started,
            decision="refused" if error[0] in ("resource", "rule") else "error",
            kind=error[0],
            process=process,
        )
    if status.get("truncated") and limits.row_limit_action == "refuse":
        _refuse(
            Refusal(
                "row-limit",
                f"The query returns more than {limits.max_rows} rows; aggregate it or add a LIMIT.",
            ),
            sql,
            touched,
            started,
            kind="resource",
            process=process,
        )
    from passerelle.research.results import storable_table

    with pa.OSFile(str(report.result_path)) as source:
        table = pa.ipc.open_file(source).read_all()
    # DuckDB's lossless Arrow types (hugeint sums, bool8, intervals...) become the portable
    # exact ones here, so every reader (the store, the disclosure check) sees the same. A
    # type with no exact form stays as it is: storing it refuses it in one audited sentence,
    # and the disclosure check refuses what it cannot read as a number.
    with suppress(UsageError):
        table = storable_table(table)
    return QueryOutcome(
        digest=digest,
        tables=touched,
        decision="allowed",
        rows=table.num_rows,
        truncated=bool(status.get("truncated")),
        duration_s=time.perf_counter() - started,
        result=table,
        **process,  # type: ignore[arg-type]
    )


def _failure(report: ChildReport, limits: QueryLimits) -> tuple[str, str, str]:
    """(kind, reason, message) of a child that returned no result (pure)."""
    status = report.status
    memory = (
        f"The query needs more than {limits.memory_mb} MB of memory and was stopped; "
        "aggregate earlier or select fewer columns."
    )
    late = f"The query ran longer than {limits.timeout_s:g} s and was stopped; narrow it."
    if not report.started:
        return (
            "engine",
            "engine-failure",
            ("The sandbox process could not start; try again, or ask the hub's operators."),
        )
    if status is None:
        if report.killed_at_deadline or report.signal == signal.SIGXCPU.name:
            return "resource", "time-limit", late
        if report.signal in (
            signal.SIGXFSZ.name,
            signal.SIGKILL.name,
            signal.SIGSEGV.name,
            signal.SIGABRT.name,
            signal.SIGBUS.name,
        ):
            return "resource", "memory-limit", memory
        return (
            "engine",
            "engine-failure",
            ("The sandbox process ended without an answer; try again, or ask the hub's operators."),
        )
    reason = str(status.get("reason") or "engine-failure")
    kind = str(status.get("kind") or "engine")
    if reason == "memory-limit":
        return "resource", reason, memory
    if reason == "time-limit":
        return "resource", reason, late
    if reason == "engine-refused":
        return "rule", reason, "The sandbox refuses access outside the granted datasets."
    message = fixed_message(reason) if kind in ("data", "engine") else status.get("message")
    if not isinstance(message, str) or not message:
        message = (
            "DuckDB could not run the query; no detail is shown because it could contain data."
        )
    return kind, reason, message


def _refuse(
    refusal: Refusal,
    sql: str,
    tables: tuple[str, ...],
    started: float,
    *,
    decision: Literal["refused", "error"] = "refused",
    kind: str = "rule",
    process: Mapping[str, Any] | None = None,
) -> NoReturn:
    outcome = QueryOutcome(
        digest=statement_digest(sql),
        tables=tables,
        decision=decision,
        reason=refusal.reason,
        message=refusal.message,
        duration_s=time.perf_counter() - started,
        kind=kind,
        **(process or {}),
    )
    if decision == "error":
        raise QueryError(refusal.message, reason=refusal.reason, details=outcome)
    raise SandboxViolation(refusal.message, reason=refusal.reason, details=outcome)
