"""Run one researcher query in a throw-away DuckDB that sees only the granted datasets.

Two walls: :func:`passerelle.research.guard.check_sql` refuses on the SQL text
alone; then DuckDB itself runs with the granted datasets registered first and
``enable_external_access = false`` / ``lock_configuration = true`` set after,
no extension autoloading, no Python replacement scans, no spilling to disk,
bounded threads and memory, and an interrupt at the time limit.  One
connection per query, closed after.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from passerelle.errors import QueryError, SandboxViolation, UsageError
from passerelle.research.disclosure.queries import quote_identifier
from passerelle.research.guard import Refusal, check_sql, statement_digest
from passerelle.research.parquet_source import (
    TableSource,
    copy_to_folder,
    open_dataset,
    parquet_keys,
)

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

    from passerelle.research.scan_cache import ScanCache

__all__ = ["QueryLimits", "QueryOutcome", "run_sandboxed"]


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """Resource limits of one query (configurable per hub).

    ``row_limit_action``: at ``max_rows``, ``"truncate"`` keeps the first
    ``max_rows`` rows and sets :attr:`QueryOutcome.truncated`; ``"refuse"``
    raises :class:`SandboxViolation` (reason ``row-limit``) and returns nothing.
    ``memory_limit`` bounds DuckDB's own memory (the Arrow scan buffers of the
    Parquet reader come on top, a few row groups at most).  ``scan`` is how the
    granted Parquet reaches DuckDB: ``stream`` (ranged reads through the store,
    only the columns and row groups the query needs, via pyarrow), ``copy`` (the
    files streamed from the store into a private per-query folder, deleted after,
    and read by DuckDB's native reader: less CPU, but whole files) or ``auto``
    (``copy`` for a dataset of at most ``copy_max_bytes``, else ``stream``).
    Column-subset grants always stream.
    """

    max_rows: int = 100_000
    timeout_s: float = 60.0
    memory_limit: str = "2GB"
    threads: int = 2
    row_limit_action: Literal["truncate", "refuse"] = "truncate"
    max_sql_chars: int = 100_000
    scan: Literal["auto", "stream", "copy"] = "auto"
    copy_max_bytes: int = 2 * 1024**3

    def __post_init__(self) -> None:
        if self.max_rows < 1 or self.timeout_s <= 0 or self.threads < 1:
            raise UsageError("Query limits must be positive (max_rows, timeout_s, threads).")
        if self.row_limit_action not in ("truncate", "refuse"):
            raise UsageError("row_limit_action must be 'truncate' or 'refuse'.")
        if self.scan not in ("auto", "stream", "copy"):
            raise UsageError("scan must be 'auto', 'stream' or 'copy'.")


@dataclass(frozen=True)
class QueryOutcome:
    """What one query did, with everything the audit log records.

    ``decision`` is ``allowed``, ``refused`` (a sandbox rule or limit, ``reason``
    names it) or ``error`` (DuckDB could not run a permitted query).  ``result``
    is only set when allowed.
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

    def audit_details(self) -> dict[str, Any]:
        """The JSON-ready fields an audit entry carries (never the result rows)."""
        return {
            "statement_sha256": self.digest,
            "datasets": list(self.tables),
            "decision": self.decision,
            "reason": self.reason,
            "rows": self.rows,
            "truncated": self.truncated,
            "duration_s": round(self.duration_s, 6),
        }


def run_sandboxed(
    sql: str,
    tables: Mapping[str, TableSource],
    limits: QueryLimits | None = None,
    cache: ScanCache | None = None,
) -> QueryOutcome:
    """Run ``sql`` over the granted ``tables`` (name -> source) and return its outcome.

    With a ``cache``, datasets read in ``copy`` mode are copied once into it and
    reused by later queries instead of being copied into a per-query folder.

    Raises :class:`SandboxViolation` (``.reason`` a stable code, ``.details`` the
    refused :class:`QueryOutcome`) for anything the sandbox refuses, and
    :class:`QueryError` (same attributes) when DuckDB cannot run a permitted query.
    """
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
        _refuse(check.refusal, sql, (), started, decision="error" if syntax else "refused")
    used = {name: tables[name] for name in check.tables}
    result, truncated = _execute(sql, used, limits, check.tables, started, cache)
    return QueryOutcome(
        digest=check.digest,
        tables=check.tables,
        decision="allowed",
        rows=result.num_rows,
        truncated=truncated,
        duration_s=time.perf_counter() - started,
        result=result,
    )


def _refuse(
    refusal: Refusal,
    sql: str,
    tables: tuple[str, ...],
    started: float,
    *,
    decision: Literal["refused", "error"] = "refused",
) -> NoReturn:
    outcome = QueryOutcome(
        digest=statement_digest(sql),
        tables=tables,
        decision=decision,
        reason=refusal.reason,
        message=refusal.message,
        duration_s=time.perf_counter() - started,
    )
    if decision == "error":
        raise QueryError(refusal.message, reason=refusal.reason, details=outcome)
    raise SandboxViolation(refusal.message, reason=refusal.reason, details=outcome)


def _copies(source: TableSource, files: Mapping[str, int], limits: QueryLimits) -> bool:
    """Whether ``source`` is copied to local disk for DuckDB's native reader (pure)."""
    if source.columns is not None or limits.scan == "stream":
        return False
    return limits.scan == "copy" or sum(files.values()) <= limits.copy_max_bytes


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _connect(
    tables: Mapping[str, TableSource],
    limits: QueryLimits,
    workdir: Path | None = None,
    errors: list[BaseException] | None = None,
    cache: ScanCache | None = None,
) -> Any:
    """A fresh DuckDB that sees ``tables`` only, then is locked.

    Datasets that :func:`_copies` are streamed from the store into ``workdir`` (a
    private folder) and read by DuckDB's own Parquet reader, with ``allowed_paths``
    naming exactly those copies; the others (and every column-subset grant) are
    scanned through pyarrow so hidden columns never reach DuckDB or the disk.
    """
    import duckdb

    config: dict[str, str | bool | int | float | list[str]] = {
        "threads": limits.threads,
        "memory_limit": limits.memory_limit,
        "temp_directory": "",
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "allow_unsigned_extensions": False,
        "python_enable_replacements": False,
    }
    con = duckdb.connect(":memory:", config=config)
    try:
        allowed: list[str] = []
        for index, (name, source) in enumerate(tables.items()):
            files = parquet_keys(source)
            if not _copies(source, files, limits) or (workdir is None and cache is None):
                con.register(name, open_dataset(source, errors, files))
                continue
            if cache is not None:
                paths = [str(p) for p in cache.fetch(source, files)]
            else:
                assert workdir is not None
                folder = workdir / str(index)
                folder.mkdir()
                paths = [str(p) for p in copy_to_folder(source, folder, files)]
            allowed.extend(paths)
            listed = ", ".join(_literal(p) for p in paths)
            view = quote_identifier(name)
            con.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM read_parquet([{listed}])")
        if allowed:
            con.execute(f"SET allowed_paths = [{', '.join(_literal(p) for p in allowed)}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _execute(
    sql: str,
    tables: Mapping[str, TableSource],
    limits: QueryLimits,
    touched: tuple[str, ...],
    started: float,
    cache: ScanCache | None = None,
) -> tuple[pa.Table, bool]:
    workdir = (
        Path(tempfile.mkdtemp(prefix="passerelle-sandbox-"))
        if limits.scan != "stream" and cache is None
        else None
    )
    try:
        return _run(sql, tables, limits, touched, started, workdir, cache)
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(
    sql: str,
    tables: Mapping[str, TableSource],
    limits: QueryLimits,
    touched: tuple[str, ...],
    started: float,
    workdir: Path | None,
    cache: ScanCache | None = None,
) -> tuple[pa.Table, bool]:
    import duckdb
    import pyarrow as pa

    store_errors: list[BaseException] = []
    con = _connect(tables, limits, workdir, store_errors, cache)
    timed_out = threading.Event()
    lock = threading.Lock()
    closed = False

    def interrupt() -> None:
        with lock:
            if not closed:
                timed_out.set()
                con.interrupt()

    timer = threading.Timer(limits.timeout_s, interrupt)
    timer.daemon = True
    timer.start()
    batches: list[pa.RecordBatch] = []
    count = 0
    truncated = False
    try:
        reader = con.sql(sql).to_arrow_reader(min(limits.max_rows + 1, 131_072))
        schema = reader.schema
        for batch in reader:
            batches.append(batch)
            count += batch.num_rows
            if count > limits.max_rows:
                truncated = True
                break
    except duckdb.Error as exc:
        if store_errors:  # the store failed under the scan: raise its own error (retryable?)
            raise store_errors[0] from exc
        _refuse(
            _engine_refusal(exc, timed_out.is_set(), limits),
            sql,
            touched,
            started,
            decision=_engine_decision(exc, timed_out.is_set()),
        )
    finally:
        timer.cancel()
        with lock:
            closed = True
            con.close()
    if truncated and limits.row_limit_action == "refuse":
        _refuse(
            Refusal(
                "row-limit",
                f"The query returns more than {limits.max_rows} rows; aggregate it or add a LIMIT.",
            ),
            sql,
            touched,
            started,
        )
    table = pa.Table.from_batches(batches, schema=schema)
    return (table.slice(0, limits.max_rows) if truncated else table), truncated


def _engine_decision(exc: Exception, timed_out: bool) -> Literal["refused", "error"]:
    import duckdb

    refused = (duckdb.PermissionException, duckdb.OutOfMemoryException, duckdb.InterruptException)
    return "refused" if timed_out or isinstance(exc, refused) else "error"


def _engine_refusal(exc: Exception, timed_out: bool, limits: QueryLimits) -> Refusal:
    import duckdb

    if timed_out or isinstance(exc, duckdb.InterruptException):
        return Refusal(
            "time-limit",
            f"The query ran longer than {limits.timeout_s:g} s and was stopped; narrow it.",
        )
    if isinstance(exc, duckdb.OutOfMemoryException):
        return Refusal(
            "memory-limit",
            f"The query needs more than {limits.memory_limit} of memory; aggregate earlier "
            "or select fewer columns.",
        )
    if isinstance(exc, duckdb.PermissionException):
        return Refusal("engine-refused", "The sandbox refuses access outside the granted datasets.")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return Refusal("invalid-query", f"DuckDB cannot run the query: {text.rstrip('.')}.")
