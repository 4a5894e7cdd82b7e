"""The journal's SQLite file format: schema, identity marks, row shape and connection.

What :class:`~passerelle.migration.journal.Journal` writes and reads, kept apart
from its state transitions: the tables, the ``application_id``/``user_version``
marks that identify a journal, the plan upsert statements, :class:`ObjectRow`
and the connection and transaction helpers.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["PLAN_STATE", "SCHEMA_VERSION", "ObjectRow", "now_iso"]

SCHEMA_VERSION = 2
"""1: objects, inventory, passes, uploads; 2: adds ``workers`` (per-worker health of a pass)."""
_APP_ID = 0x50534C4C  # "PSLL": marks the file as a passerelle journal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inventory (
    side TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT,
    modified TEXT, storage_class TEXT,
    PRIMARY KEY (side, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    reason TEXT,
    status TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    source_etag TEXT,
    source_modified TEXT,
    storage_class TEXT,
    dest_class TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    sha256 TEXT,
    md5 TEXT,
    dest_etag TEXT,
    parts INTEGER,
    copied_at TEXT,
    error TEXT,
    verified_at TEXT,
    verify_result TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_status ON objects (status, key);
CREATE TABLE IF NOT EXISTS passes (
    id INTEGER PRIMARY KEY, command TEXT NOT NULL, started_at TEXT NOT NULL,
    finished_at TEXT, outcome TEXT, stats TEXT
);
"""

_WORKERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS workers (
    pass_id INTEGER NOT NULL, name TEXT NOT NULL, objects INTEGER NOT NULL,
    bytes INTEGER NOT NULL, failures INTEGER NOT NULL, last_seen TEXT,
    alive INTEGER NOT NULL,
    PRIMARY KEY (pass_id, name)
) WITHOUT ROWID;
"""

PLAN_STATE = "plan_state"  # meta key: "planning" until a journal's first plan commits
_PLAN_CACHE_KIB = 65_536  # SQLite page cache while a plan is written (default: 2 MB)

_OBJECT_COLUMNS = (
    "key, action, reason, status, size, source_etag, source_modified, storage_class, dest_class, "
    "attempts, retries, sha256, md5, dest_etag, parts, copied_at, error, verified_at, verify_result"
)


_PLAN_UPSERT_TAIL = """
    ON CONFLICT (key) DO UPDATE SET
        action = excluded.action, reason = excluded.reason,
        size = excluded.size, source_etag = excluded.source_etag,
        source_modified = excluded.source_modified,
        storage_class = excluded.storage_class, dest_class = excluded.dest_class,
        status = CASE WHEN excluded.action = 'identical' THEN objects.status
                      ELSE excluded.status END,
        error = CASE WHEN excluded.action = 'identical' THEN objects.error ELSE NULL END,
        sha256 = CASE WHEN excluded.action = 'identical' THEN objects.sha256 ELSE NULL END,
        md5 = CASE WHEN excluded.action = 'identical' THEN objects.md5 ELSE NULL END,
        dest_etag = CASE WHEN excluded.action IN ('identical', 'dest_only')
                         THEN objects.dest_etag ELSE NULL END,
        verified_at = CASE WHEN excluded.action = 'identical' THEN objects.verified_at
                           ELSE NULL END,
        verify_result = CASE WHEN excluded.action = 'identical'
                             THEN objects.verify_result ELSE NULL END
"""
# By how many leading columns of a plan row are bound (the rest are NULL).
_PLAN_UPSERT = {
    width: "INSERT INTO objects (key, action, reason, status, size, source_etag, "
    "source_modified, storage_class, dest_class) VALUES ("
    + ", ".join(["?"] * width + ["NULL"] * (9 - width))
    + ")"
    + _PLAN_UPSERT_TAIL
    for width in (5, 7, 9)
}


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class ObjectRow:
    """One key's line in the journal."""

    key: str
    action: str
    reason: str | None
    status: str
    size: int
    source_etag: str | None
    source_modified: str | None
    storage_class: str | None
    dest_class: str | None
    attempts: int
    retries: int
    sha256: str | None
    md5: str | None
    dest_etag: str | None
    parts: int | None
    copied_at: str | None
    error: str | None
    verified_at: str | None
    verify_result: str | None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class _Tx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
