"""The migration journal: one SQLite file that holds the whole state of a migration.

Every command reads and writes it, so any command can be re-run at any time and
continues from where the last one stopped.  WAL mode lets ``status`` read while
``run`` writes.  Object rows move between states::

    pending -> copying -> done
                       -> failed    (terminal error, reason kept; retried by the next run)
                       -> changed   (source changed during the copy; recopied by sync)
    blocked  (cannot be copied as it is, reported by name)
    extra    (only at the destination)

A plan is written as one transaction (:meth:`Journal.planning`), so a re-plan that
dies leaves the previous plan whole; a new journal carries ``plan_state =
planning`` from its first commit until its first plan commits ``complete``, and
:meth:`Journal.open` refuses a journal whose plan never finished.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from passerelle.errors import UsageError
from passerelle.migration.journal_schema import (
    _APP_ID,
    _OBJECT_COLUMNS,
    _PLAN_CACHE_KIB,
    _PLAN_UPSERT,
    _SCHEMA,
    _WORKERS_SCHEMA,
    PLAN_STATE,
    SCHEMA_VERSION,
    ObjectRow,
    _connect,
    _Tx,
    now_iso,
)
from passerelle.migration.upload_log import UPLOAD_SCHEMA, UploadLog
from passerelle.migration.worker_health import WorkerHealth

__all__ = ["SCHEMA_VERSION", "Journal", "ObjectRow", "now_iso"]


class Journal(UploadLog):
    """Open with :meth:`create` (``plan``) or :meth:`open` (every other command)."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self.meta: dict[str, str] = dict(conn.execute("SELECT key, value FROM meta").fetchall())

    # -- opening ----------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        source_url: str,
        dest_url: str,
        options: Mapping[str, Any],
        planning: bool = False,
    ) -> Journal:
        """A new journal at ``path``, or the existing one if it is for the same migration.

        With ``planning``, a new journal is marked as holding no finished plan
        until :meth:`planning` commits one (``plan`` does this).
        """
        path = Path(path)
        if path.exists():
            journal = cls.open(path, allow_unfinished_plan=True)
            if journal.source_url != source_url or journal.dest_url != dest_url:
                raise UsageError(
                    f"The journal {path} belongs to another migration "
                    f"({journal.source_url} -> {journal.dest_url}); choose another --journal path."
                )
            journal.set_meta("options", json.dumps(dict(options), sort_keys=True))
            return journal
        if not path.parent.exists():
            raise UsageError(f"The folder {path.parent} does not exist; create it first.")
        if not os.access(path.parent, os.W_OK):
            raise UsageError(
                f"Cannot write the journal in {path.parent}; choose a writable folder."
            )
        conn = _connect(path)
        conn.executescript(_SCHEMA + UPLOAD_SCHEMA + _WORKERS_SCHEMA)
        conn.execute(f"PRAGMA application_id={_APP_ID}")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        meta = {
            "migration_id": str(uuid.uuid4()),
            "source_url": source_url,
            "dest_url": dest_url,
            "created_at": now_iso(),
            "options": json.dumps(dict(options), sort_keys=True),
        }
        if planning:
            meta[PLAN_STATE] = "planning"
        with _Tx(conn):
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
        return cls(path, conn)

    @classmethod
    def open(cls, path: str | Path, *, allow_unfinished_plan: bool = False) -> Journal:
        """The journal at ``path`` or a :class:`UsageError` saying what is wrong with it.

        A journal whose first plan never finished (interrupted, or still being
        written) is refused unless ``allow_unfinished_plan``.
        """
        path = Path(path)
        if not path.is_file():
            raise UsageError(
                f"No journal at {path}; create one with `passerelle migrate plan SRC DST "
                f"--journal {path}`."
            )
        try:
            conn = _connect(path)
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.OperationalError as error:
            if "locked" not in str(error):
                raise
            raise UsageError(
                f"The journal {path} is locked by a plan being written; run this again when "
                "`passerelle migrate plan` has finished."
            ) from None
        except sqlite3.DatabaseError:
            raise UsageError(f"{path} is not a passerelle journal (not an SQLite file).") from None
        if app_id != _APP_ID:
            conn.close()
            raise UsageError(f"{path} is an SQLite file but not a passerelle journal.")
        if version > SCHEMA_VERSION:
            conn.close()
            raise UsageError(
                f"The journal {path} was written by a newer passerelle (schema {version}); "
                "upgrade passerelle."
            )
        journal = cls(path, conn)
        if not allow_unfinished_plan and not journal.plan_finished:
            conn.close()
            raise UsageError(
                f"The plan in the journal {path} did not finish (interrupted, or still "
                f"running); run `passerelle migrate plan {journal.source_url} "
                f"{journal.dest_url} --journal {path}` again first."
            )
        return journal

    def close(self) -> None:
        self._conn.close()

    def reader(self) -> Journal:
        """A second connection on the same file (for streaming reads while writing)."""
        return Journal(self.path, _connect(self.path))

    # -- metadata ---------------------------------------------------------------
    @property
    def source_url(self) -> str:
        return self.meta["source_url"]

    @property
    def dest_url(self) -> str:
        return self.meta["dest_url"]

    @property
    def migration_id(self) -> str:
        return self.meta["migration_id"]

    @property
    def options(self) -> dict[str, Any]:
        return dict(json.loads(self.meta.get("options", "{}")))

    @property
    def plan_finished(self) -> bool:
        """False while the journal holds no finished plan (journals made before the mark count)."""
        return self.meta.get(PLAN_STATE, "complete") == "complete"

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
        self.meta[key] = value

    # -- inventory --------------------------------------------------------------
    def replace_inventory(self, side: str, pages: Iterable[list[tuple[Any, ...]]]) -> int:
        """Replace one side's listing with ``pages`` of (key, size, etag, modified, class).

        Each page is written and committed on its own: memory stays flat.
        """
        if side not in ("src", "dst", "vfy"):
            raise ValueError(side)
        self._conn.execute("DELETE FROM inventory WHERE side = ?", (side,))
        count = 0
        for page in pages:
            with self._transaction():
                self._conn.executemany(
                    "INSERT OR REPLACE INTO inventory (side, key, size, etag, modified, "
                    "storage_class) VALUES (?, ?, ?, ?, ?, ?)",
                    [(side, *row) for row in page],
                )
            count += len(page)
        self.set_meta(f"inventory_{side}_at", now_iso())
        self.set_meta(f"inventory_{side}_count", str(count))
        return count

    def load_inventory(self, side: str, pages: Iterable[list[tuple[Any, ...]]]) -> int:
        """Replace one side's listing like :meth:`replace_inventory`, without its meta stamps.

        The planner uses it for a listing that did not come in key order (SQLite
        sorts it); the plan transaction stamps the counts when it commits.
        """
        if side not in ("src", "dst"):
            raise ValueError(side)
        self._conn.execute("DELETE FROM inventory WHERE side = ?", (side,))
        count = 0
        for page in pages:
            with self._transaction():
                self._conn.executemany(
                    "INSERT OR REPLACE INTO inventory (side, key, size, etag, modified, "
                    "storage_class) VALUES (?, ?, ?, ?, ?, ?)",
                    [(side, *row) for row in page],
                )
            count += len(page)
        return count

    def clear_inventory(self, side: str) -> None:
        self._conn.execute("DELETE FROM inventory WHERE side = ?", (side,))

    def inventory_after(self, side: str, after: str | None, limit: int) -> list[tuple[Any, ...]]:
        """Up to ``limit`` rows (key, size, etag, modified, class) of a side after ``after``."""
        if after is None:
            return self._conn.execute(
                "SELECT key, size, etag, modified, storage_class FROM inventory "
                "WHERE side = ? ORDER BY key LIMIT ?",
                (side, limit),
            ).fetchall()
        return self._conn.execute(
            "SELECT key, size, etag, modified, storage_class FROM inventory "
            "WHERE side = ? AND key > ? ORDER BY key LIMIT ?",
            (side, after, limit),
        ).fetchall()

    def priors_after(self, after: str | None, limit: int) -> list[tuple[Any, ...]]:
        """Up to ``limit`` rows (key, source_etag, size, dest_etag, sha256) after ``after``."""
        if after is None:
            return self._conn.execute(
                "SELECT key, source_etag, size, dest_etag, sha256 FROM objects "
                "ORDER BY key LIMIT ?",
                (limit,),
            ).fetchall()
        return self._conn.execute(
            "SELECT key, source_etag, size, dest_etag, sha256 FROM objects "
            "WHERE key > ? ORDER BY key LIMIT ?",
            (after, limit),
        ).fetchall()

    def delete_objects(self, keys: Iterable[str]) -> None:
        """Forget these keys (the planner's keys that are on neither side any more)."""
        self._conn.executemany("DELETE FROM objects WHERE key = ?", ((k,) for k in keys))

    @contextmanager
    def planning(self) -> Iterator[None]:
        """Write a whole plan as one transaction that commits with ``plan_state = complete``.

        Anything that stops the block (an exception, ``kill -9``, a power cut) rolls
        the plan back: the journal keeps its previous plan, or, for a journal whose
        first plan this was, stays marked ``planning`` and is refused by :meth:`open`.
        """
        cache = self._conn.execute("PRAGMA cache_size").fetchone()[0]
        self._conn.execute(f"PRAGMA cache_size=-{_PLAN_CACHE_KIB}")
        # A first plan has nothing to show readers, so it writes the file in place with a
        # rollback journal (SQLite's default mode) instead of every page twice (WAL, then
        # checkpoint); it switches only when no other connection has the file open.
        in_place = not self.plan_finished
        if in_place:
            mode = self._conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
            in_place = mode == "delete"
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.set_meta(PLAN_STATE, "complete")
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                self.meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
                raise
        finally:
            if in_place:
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA cache_size={cache}")

    def write_plan(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Upsert plan rows: (key, action, reason, status, size, etag, modified, class, dest_class).

        Rows whose action is ``identical`` keep their proof; others are reset.
        Inside :meth:`planning` the rows join the plan's transaction.
        """
        if self._conn.in_transaction:
            self._write_plan(rows)
            return
        with self._transaction():
            self._write_plan(rows)

    def _write_plan(self, rows: Iterable[tuple[Any, ...]]) -> None:
        # Python's sqlite3 binds None through its adapter lookup (about 1 us each), so
        # rows whose trailing columns are None use a statement with NULL literals there;
        # runs of one shape keep the rows' order.
        shape = 0
        run: list[tuple[Any, ...]] = []
        for row in rows:
            if row[7] is None and row[8] is None:
                width = 5 if row[5] is None and row[6] is None else 7
            else:
                width = 9
            if width != shape:
                if run:
                    self._conn.executemany(_PLAN_UPSERT[shape], run)
                    run = []
                shape = width
            run.append(row if width == 9 else row[:width])
        if run:
            self._conn.executemany(_PLAN_UPSERT[shape], run)

    def iter_against_listing(self) -> Iterator[tuple[ObjectRow, int | None, str | None]]:
        """Every journal object with its size and ETag in the ``vfy`` listing (``None``: absent)."""
        cols = ", ".join(f"o.{c.strip()}" for c in _OBJECT_COLUMNS.split(","))
        for row in self._conn.execute(
            f"SELECT {cols}, v.size, v.etag FROM objects o "
            "LEFT JOIN inventory v ON v.side = 'vfy' AND v.key = o.key ORDER BY o.key"
        ):
            yield ObjectRow(*row[:-2]), row[-2], row[-1]

    def iter_unplanned(self, side: str) -> Iterator[str]:
        """Keys of a listing that the journal has never heard of."""
        for (key,) in self._conn.execute(
            "SELECT v.key FROM inventory v LEFT JOIN objects o ON o.key = v.key "
            "WHERE v.side = ? AND o.key IS NULL ORDER BY v.key",
            (side,),
        ):
            yield key

    # -- running ----------------------------------------------------------------
    def claim_batch(self, after: str, limit: int) -> list[ObjectRow]:
        """The next ``limit`` pending keys after ``after``, marked ``copying``."""
        with self._transaction():
            rows = self._conn.execute(
                f"SELECT {_OBJECT_COLUMNS} FROM objects "
                "WHERE status = 'pending' AND key > ? ORDER BY key LIMIT ?",
                (after, limit),
            ).fetchall()
            self._conn.executemany(
                "UPDATE objects SET status = 'copying', attempts = attempts + 1 WHERE key = ?",
                [(r[0],) for r in rows],
            )
        return [ObjectRow(*r) for r in rows]

    def interrupted(self) -> list[ObjectRow]:
        """Keys left ``copying`` by a run that died."""
        rows = self._conn.execute(
            f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE status = 'copying' ORDER BY key"
        ).fetchall()
        return [ObjectRow(*r) for r in rows]

    def requeue(self, keys: Iterable[str], statuses: tuple[str, ...] = ("copying",)) -> None:
        marks = ",".join("?" * len(statuses))
        with self._transaction():
            self._requeue(keys, statuses, marks)

    def _requeue(self, keys: Iterable[str], statuses: tuple[str, ...], marks: str) -> None:
        self._conn.executemany(
            f"UPDATE objects SET status = 'pending' WHERE key = ? AND status IN ({marks})",
            [(k, *statuses) for k in keys],
        )

    def requeue_failed(self) -> int:
        cur = self._conn.execute(
            "UPDATE objects SET status = 'pending' WHERE status IN ('failed', 'copying')"
        )
        return cur.rowcount

    def record_outcomes(self, outcomes: Iterable[Mapping[str, Any]]) -> None:
        """Write copy outcomes (each a dict with ``key``, ``status`` and proof fields)."""
        with self._transaction():
            self._conn.executemany(
                """
                UPDATE objects SET status = :status, sha256 = :sha256, md5 = :md5,
                    dest_etag = :dest_etag, parts = :parts, copied_at = :copied_at,
                    error = :error, retries = retries + :retries
                WHERE key = :key
                """,
                [
                    {
                        "sha256": None,
                        "md5": None,
                        "dest_etag": None,
                        "parts": None,
                        "copied_at": None,
                        "error": None,
                        "retries": 0,
                        **o,
                    }
                    for o in outcomes
                ],
            )

    def record_verification(self, results: Iterable[tuple[str, str]]) -> None:
        """Store (key, result) pairs of a verify pass (``ok`` or what was wrong)."""
        stamp = now_iso()
        with self._transaction():
            self._conn.executemany(
                "UPDATE objects SET verified_at = ?, verify_result = ? WHERE key = ?",
                [(stamp, result, key) for key, result in results],
            )

    def set_status(self, keys: Iterable[str], status: str) -> None:
        with self._transaction():
            self._conn.executemany(
                "UPDATE objects SET status = ? WHERE key = ?", [(status, k) for k in keys]
            )

    # -- reading ----------------------------------------------------------------
    def iter_objects(self, where: str = "1", params: tuple[Any, ...] = ()) -> Iterator[ObjectRow]:
        for row in self._conn.execute(
            f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE {where} ORDER BY key", params
        ):
            yield ObjectRow(*row)

    def get(self, key: str) -> ObjectRow | None:
        row = self._conn.execute(
            f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE key = ?", (key,)
        ).fetchone()
        return ObjectRow(*row) if row else None

    def counts(self) -> dict[str, dict[str, int]]:
        """{status: {"objects": n, "bytes": b}} plus {"action:<a>": ...} rows."""
        out: dict[str, dict[str, int]] = {}
        for status, n, b in self._conn.execute(
            "SELECT status, COUNT(*), COALESCE(SUM(size), 0) FROM objects GROUP BY status"
        ):
            out[status] = {"objects": n, "bytes": b}
        for action, n, b in self._conn.execute(
            "SELECT action, COUNT(*), COALESCE(SUM(size), 0) FROM objects GROUP BY action"
        ):
            out[f"action:{action}"] = {"objects": n, "bytes": b}
        return out

    def total_retries(self) -> int:
        return int(
            self._conn.execute("SELECT COALESCE(SUM(retries), 0) FROM objects").fetchone()[0]
        )

    # -- workers ----------------------------------------------------------------
    def ensure_worker_table(self) -> None:
        """Bring a schema-1 journal to schema 2 (the writer does it; readers cope without)."""
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version < 2:
            self._conn.executescript(_WORKERS_SCHEMA)
            self._conn.execute("PRAGMA user_version=2")

    def record_workers(self, pass_id: int, rows: Iterable[WorkerHealth]) -> None:
        with self._transaction():
            self._conn.executemany(
                "INSERT INTO workers (pass_id, name, objects, bytes, failures, last_seen, alive) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (pass_id, name) DO UPDATE SET "
                "objects = excluded.objects, bytes = excluded.bytes, "
                "failures = excluded.failures, last_seen = excluded.last_seen, "
                "alive = excluded.alive",
                [
                    (pass_id, r.name, r.objects, r.bytes, r.failures, r.last_seen, int(r.alive))
                    for r in rows
                ],
            )

    def workers(self, pass_id: int) -> list[WorkerHealth]:
        """The per-worker table of a pass (empty for a schema-1 journal or a pass without)."""
        try:
            rows = self._conn.execute(
                "SELECT name, objects, bytes, failures, last_seen, alive FROM workers "
                "WHERE pass_id = ? ORDER BY name",
                (pass_id,),
            ).fetchall()
        except sqlite3.OperationalError:  # schema 1: no workers table yet
            return []
        return [WorkerHealth(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]

    # -- passes -----------------------------------------------------------------
    def start_pass(self, command: str) -> int:
        cur = self._conn.execute(
            "INSERT INTO passes (command, started_at) VALUES (?, ?)", (command, now_iso())
        )
        self.current_pass = int(cur.lastrowid or 0)
        return self.current_pass

    def finish_pass(self, pass_id: int, outcome: str, stats: Mapping[str, Any]) -> None:
        self._conn.execute(
            "UPDATE passes SET finished_at = ?, outcome = ?, stats = ? WHERE id = ?",
            (now_iso(), outcome, json.dumps(dict(stats), sort_keys=True), pass_id),
        )

    def passes(self) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT id, command, started_at, finished_at, outcome, stats FROM passes ORDER BY id"
        ).fetchall()
        return [
            {
                "id": r[0],
                "command": r[1],
                "started_at": r[2],
                "finished_at": r[3],
                "outcome": r[4],
                "stats": json.loads(r[5]) if r[5] else {},
            }
            for r in rows
        ]

    # -- helpers ----------------------------------------------------------------
    def _transaction(self) -> _Tx:
        return _Tx(self._conn)
