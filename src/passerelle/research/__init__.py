"""The research sandbox: researchers' SQL over granted datasets, and what may leave the hub.

* :func:`run_sandboxed` runs one SELECT in a throw-away DuckDB that sees only the
  granted datasets (Parquet copied through the storage layer), in a child process
  the operating system limits (:mod:`passerelle.research.child`), and returns a
  :class:`QueryOutcome` (result, digest, tables, rows, decision, duration), or
  raises :class:`~passerelle.errors.SandboxViolation` or
  :class:`~passerelle.errors.QueryError` with an auditable kind and reason and a
  message that holds no data value (:mod:`passerelle.research.redaction`).
* :mod:`passerelle.research.caps` caps what a query may ask for (the hub's
  ``query_max_*`` settings).
* :func:`write_result` stores a result as Parquet inside a workspace prefix.
* :mod:`passerelle.research.disclosure` checks aggregate tables before release.
"""

from passerelle.research.child import ChildPool
from passerelle.research.guard import Refusal, SqlCheck, check_sql, statement_digest
from passerelle.research.parquet_source import TableSource, open_dataset, store_filesystem
from passerelle.research.results import write_result
from passerelle.research.sandbox import QueryLimits, QueryOutcome, run_sandboxed
from passerelle.research.scan_cache import ScanCache

__all__ = [
    "ChildPool",
    "QueryLimits",
    "QueryOutcome",
    "Refusal",
    "ScanCache",
    "SqlCheck",
    "TableSource",
    "check_sql",
    "open_dataset",
    "run_sandboxed",
    "statement_digest",
    "store_filesystem",
    "write_result",
]
