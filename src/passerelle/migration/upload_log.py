"""The journal's record of resumable multipart uploads: upload ids and finished parts.

A large object copied to a destination with resumable uploads gets one
``uploads`` row (upload id, part size, source version) and one ``upload_parts``
row per part the destination acknowledged (size, receipt, the part's SHA-256 and
the pass that sent it).  After a crash the next run finds the upload again,
keeps the parts that both sides agree on, and sends only the others.  Rows stay
after completion as the history of who sent which part.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["UPLOAD_SCHEMA", "PartRecord", "UploadEvent", "UploadLog", "UploadState"]

UPLOAD_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    key TEXT PRIMARY KEY, upload_id TEXT NOT NULL, part_size INTEGER NOT NULL,
    source_etag TEXT, started_at TEXT NOT NULL, completed_at TEXT, pass_id INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS upload_parts (
    key TEXT NOT NULL, number INTEGER NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    sha256 TEXT NOT NULL, pass_id INTEGER, uploaded_at TEXT NOT NULL,
    PRIMARY KEY (key, number)
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class PartRecord:
    """One part the destination acknowledged, with the SHA-256 of its source bytes."""

    number: int
    size: int
    etag: str
    sha256: str


@dataclass(slots=True)
class UploadState:
    """What a resume needs: the upload id, its part size, source version and parts."""

    key: str
    upload_id: str
    part_size: int
    source_etag: str | None
    parts: dict[int, PartRecord] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UploadEvent:
    """A change to journal: ``start`` (state), ``part`` (part) or ``end`` (completed)."""

    kind: str
    key: str
    state: UploadState | None = None
    part: PartRecord | None = None
    completed: bool = False
    at: str = ""


class UploadLog:
    """Mixed into :class:`~passerelle.migration.journal.Journal` (uses its connection)."""

    _conn: sqlite3.Connection
    current_pass: int | None = None

    def ensure_upload_tables(self) -> None:
        exists = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'upload_parts'"
        ).fetchone()
        if not exists:
            self._conn.executescript(UPLOAD_SCHEMA)

    def upload_state(self, key: str) -> UploadState | None:
        """The unfinished upload of ``key`` recorded by an earlier attempt, if any."""
        row = self._conn.execute(
            "SELECT upload_id, part_size, source_etag FROM uploads "
            "WHERE key = ? AND completed_at IS NULL",
            (key,),
        ).fetchone()
        if row is None:
            return None
        state = UploadState(key, row[0], int(row[1]), row[2])
        for number, size, etag, sha in self._conn.execute(
            "SELECT number, size, etag, sha256 FROM upload_parts WHERE key = ?", (key,)
        ):
            state.parts[int(number)] = PartRecord(int(number), int(size), etag, sha)
        return state

    def record_upload_events(self, events: Iterable[UploadEvent]) -> None:
        """Apply upload events in order, in one transaction."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for event in events:
                self._apply(event)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _apply(self, event: UploadEvent) -> None:
        conn = self._conn
        if event.kind == "start":
            assert event.state is not None
            s = event.state
            conn.execute("DELETE FROM upload_parts WHERE key = ?", (event.key,))
            conn.execute(
                "INSERT OR REPLACE INTO uploads (key, upload_id, part_size, source_etag, "
                "started_at, completed_at, pass_id) VALUES (?, ?, ?, ?, ?, NULL, ?)",
                (event.key, s.upload_id, s.part_size, s.source_etag, event.at, self.current_pass),
            )
        elif event.kind == "part":
            assert event.part is not None
            p = event.part
            conn.execute(
                "INSERT OR REPLACE INTO upload_parts (key, number, size, etag, sha256, pass_id, "
                "uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (event.key, p.number, p.size, p.etag, p.sha256, self.current_pass, event.at),
            )
        elif event.completed:
            conn.execute("UPDATE uploads SET completed_at = ? WHERE key = ?", (event.at, event.key))
        else:  # abandoned: nothing of it can be resumed any more
            conn.execute("DELETE FROM upload_parts WHERE key = ?", (event.key,))
            conn.execute("DELETE FROM uploads WHERE key = ?", (event.key,))
