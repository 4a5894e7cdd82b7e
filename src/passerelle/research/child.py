"""One researcher query in a child process whose limits the operating system enforces.

The parent (:func:`run_in_child`) starts a fresh interpreter with
``subprocess`` (a spawn: fork + exec in C, safe with obstore's threads), with an
environment holding no credential, its working and temporary folder a private
directory, and stderr discarded.  The child imports DuckDB, says ``ready``, reads
one job (the SQL, each granted table as local Parquet files the parent prepared,
the limits) from stdin, then, before running anything researcher-supplied:

* sets ``RLIMIT_AS`` to its own virtual size at that point (interpreter, DuckDB,
  its threads) plus the query's memory budget, and DuckDB's ``memory_limit`` to
  three quarters of the budget, so DuckDB usually stops cleanly first and the
  kernel stops whatever DuckDB does not count (aggregate states, Arrow buffers);
* sets ``RLIMIT_CPU`` (a back-stop should the parent die), ``RLIMIT_FSIZE`` (no
  file beyond the budget) and ``RLIMIT_CORE`` = 0 (no core dump of the data);
* opens DuckDB on those files only (``allowed_paths``), external access off,
  configuration locked.

It writes the result as an Arrow IPC file in its folder and prints one status
line; an error is printed by kind and redacted message
(:mod:`passerelle.research.redaction`), so raw DuckDB text never leaves it.  The
parent waits at most until the deadline, then sends SIGKILL; it reaps the child
with ``wait4`` (its peak RSS is reported) and removes the folder.
"""

from __future__ import annotations

import json
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from passerelle.research.sql_quoting import quote_identifier, quote_literal

__all__ = [
    "ChildJob",
    "ChildPool",
    "ChildReport",
    "SpawnedChild",
    "connect",
    "main",
    "run_in_child",
    "spawn_child",
]

STATUS = "passerelle-child:"
STARTUP_S = 60.0  # the longest the parent waits for a child to import DuckDB
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from passerelle.research.child import main; main()"
)


@dataclass(frozen=True, slots=True)
class ChildJob:
    """What the child runs: ``tables`` maps each granted name to its local Parquet files."""

    sql: str
    tables: Mapping[str, Sequence[str]]
    threads: int
    memory_bytes: int
    max_rows: int
    timeout_s: float

    def to_json(self) -> str:
        return json.dumps(
            {
                "sql": self.sql,
                "tables": {k: list(v) for k, v in self.tables.items()},
                "threads": self.threads,
                "memory_bytes": self.memory_bytes,
                "max_rows": self.max_rows,
                "timeout_s": self.timeout_s,
            }
        )


@dataclass(frozen=True, slots=True)
class ChildReport:
    """How the child ended: its status line (``None`` if it printed none) and its exit."""

    pid: int
    status: dict[str, Any] | None
    returncode: int
    killed_at_deadline: bool
    peak_rss_bytes: int
    result_path: Path | None = field(default=None)
    started: bool = True

    @property
    def signal(self) -> str | None:
        """The signal that ended the child (``SIGKILL``...), if one did."""
        if self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"


def _child_env(workdir: Path) -> dict[str, str]:
    """A minimal environment: no store credential, no key, no proxy, no Python settings."""
    env = {"PATH": os.defpath, "HOME": str(workdir), "TMPDIR": str(workdir), "LC_ALL": "C.UTF-8"}
    return env


@dataclass
class SpawnedChild:
    """A started child and its private folder (removed by :meth:`close`)."""

    proc: subprocess.Popen[bytes]
    workdir: Path
    buffer: bytearray = field(default_factory=bytearray)
    ready: bool = False

    def close(self) -> tuple[int, int]:
        """Kill the child if it still runs, reap it; return (returncode, peak RSS bytes)."""
        rc, rss = self.proc.returncode, 0
        if rc is None:
            if self.proc.poll() is None:
                self.proc.kill()
            rc, rss = _reap(self.proc)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
        return rc, rss


def _reap(proc: subprocess.Popen[bytes]) -> tuple[int, int]:
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except ChildProcessError:  # already reaped by Popen.poll
        return proc.returncode if proc.returncode is not None else -signal.SIGKILL, 0
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc
    return rc, usage.ru_maxrss * 1024


def spawn_child(parent: Path | None = None) -> SpawnedChild:
    """Start a child in a new private folder (mode 0700) under ``parent`` (the temp dir)."""
    import passerelle

    workdir = Path(tempfile.mkdtemp(prefix="passerelle-sandbox-", dir=parent))
    root = str(Path(passerelle.__file__).resolve().parent.parent)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, root],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=workdir,
            env=_child_env(workdir),
            close_fds=True,
        )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return SpawnedChild(proc, workdir)


class ChildPool:
    """Children started ahead (DuckDB already imported), each used for one query and killed.

    :meth:`take` hands out a spare that is still alive, else starts a child;
    :meth:`refill` (called once the query is over, so the imports do not compete
    with it for processors) starts spares up to ``size``.  A spare holds no job,
    no data and no limit until it is taken; :meth:`close` kills the spares and
    removes their folders (also done when the pool is garbage-collected or the
    interpreter exits).
    """

    def __init__(self, size: int = 1, parent: Path | None = None) -> None:
        import threading
        import weakref

        self.size = size
        self.parent = parent
        self._spares: list[SpawnedChild] = []
        self._lock = threading.Lock()
        weakref.finalize(self, ChildPool._kill_all, self._spares)

    def take(self) -> SpawnedChild:
        """A spare child for one query (a new one if none is alive)."""
        with self._lock:
            while self._spares:
                spare = self._spares.pop(0)
                if spare.proc.poll() is None:
                    return spare
                spare.close()
        return spawn_child(self.parent)

    def refill(self) -> None:
        """Start spares until there are ``size``."""
        with self._lock:
            while len(self._spares) < self.size:
                self._spares.append(spawn_child(self.parent))

    @property
    def spares(self) -> int:
        with self._lock:
            return len(self._spares)

    def close(self) -> None:
        with self._lock:
            ChildPool._kill_all(self._spares)

    @staticmethod
    def _kill_all(spares: list[SpawnedChild]) -> None:
        while spares:
            spares.pop().close()


def _read_line(child: SpawnedChild, deadline: float) -> bytes | None:
    """The child's next stdout line, or ``None`` at the deadline or at end of output."""
    assert child.proc.stdout is not None
    fd = child.proc.stdout.fileno()
    while b"\n" not in child.buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        readable, _, _ = select.select([fd], [], [], remaining)
        if not readable:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        child.buffer.extend(chunk)
    line, _, rest = bytes(child.buffer).partition(b"\n")
    child.buffer[:] = rest
    return line


def _status_line(child: SpawnedChild, deadline: float) -> dict[str, Any] | None:
    while (line := _read_line(child, deadline)) is not None:
        at = line.rfind(STATUS.encode())  # anything else on stdout (a progress bar) is noise
        if at >= 0:
            try:
                parsed = json.loads(line[at + len(STATUS) :])
            except ValueError:
                return None
            return parsed if isinstance(parsed, dict) else None
    return None


def _wait_until(proc: subprocess.Popen[bytes], deadline: float) -> tuple[int, int] | None:
    """Reap ``proc`` if it exits before ``deadline``: (returncode, peak RSS bytes)."""
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_maxrss * 1024
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.005)


def run_in_child(child: SpawnedChild, job: ChildJob) -> ChildReport:
    """Hand ``job`` to ``child``, wait at most ``job.timeout_s`` for its status, kill it.

    The deadline starts when the child is ready (DuckDB imported) and the job is
    handed over.  The child is dead and reaped when this returns (SIGKILL at the
    deadline, or as soon as it has reported: one query per child); the caller
    removes its folder with :meth:`SpawnedChild.close` after reading the result.
    """
    assert child.proc.stdin is not None
    if not child.ready:
        hello = _status_line(child, time.monotonic() + STARTUP_S)
        child.ready = bool(hello and hello.get("ready"))
    status: dict[str, Any] | None = None
    deadline = time.monotonic() + job.timeout_s
    reaped: tuple[int, int] | None = None
    if child.ready:
        try:
            child.proc.stdin.write(job.to_json().encode() + b"\n")
            child.proc.stdin.flush()
        except OSError:  # it died already: reaped below
            pass
        status = _status_line(child, deadline)
        if status is None:  # it died, or the deadline came: reap it if it is gone
            reaped = _wait_until(child.proc, deadline)
    timed_out = child.ready and status is None and reaped is None
    if reaped is None:
        child.proc.send_signal(signal.SIGKILL)
        reaped = _reap(child.proc)
    result = child.workdir / "result.arrow"
    return ChildReport(
        child.proc.pid,
        status,
        reaped[0],
        timed_out,
        reaped[1],
        result if status and status.get("ok") and result.exists() else None,
        child.ready,
    )


# --- the child side -------------------------------------------------------------------


def open_engine() -> Any:
    """A fresh in-memory DuckDB with nothing registered: no extension can be installed or
    loaded, no Python variable scanned, nothing spilled to disk (not locked yet)."""
    import duckdb

    config: dict[str, str | bool | int | float | list[str]] = {
        "threads": 1,
        "temp_directory": "",
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "allow_unsigned_extensions": False,
        "python_enable_replacements": False,
        # Export to Arrow without loss: UHUGEINT past 2^127, TIMETZ offsets and BIT
        # values otherwise arrive wrapped, dropped or as DuckDB's internal bytes.
        "arrow_lossless_conversion": True,
    }
    return duckdb.connect(":memory:", config=config)


def connect(
    tables: Mapping[str, Sequence[str]], threads: int, memory_bytes: int, con: Any = None
) -> Any:
    """DuckDB (``con`` from :func:`open_engine`, else a new one) over the local Parquet
    ``tables`` (name -> files) only, then locked.

    Each table is a temporary view over ``read_parquet`` of exactly its files;
    ``allowed_paths`` names those files and nothing else before external access
    is turned off and the configuration locked.  DuckDB's ``memory_limit`` is
    three quarters of ``memory_bytes``.
    """
    con = con if con is not None else open_engine()
    try:
        con.execute("SET enable_progress_bar = false")  # it writes to stdout, the status line
        con.execute(f"SET threads = {int(threads)}")
        con.execute(f"SET memory_limit = '{max(16, memory_bytes * 3 // 4 // 2**20)}MB'")
        allowed: list[str] = []
        for name, paths in tables.items():
            allowed.extend(paths)
            listed = ", ".join(quote_literal(p) for p in paths)
            view = quote_identifier(name)
            con.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM read_parquet([{listed}])")
        if allowed:
            con.execute(f"SET allowed_paths = [{', '.join(quote_literal(p) for p in allowed)}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _virtual_size() -> int:
    """This process's virtual memory size in bytes (``VmSize``), 0 where unknown."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _set_limits(job: ChildJob) -> None:
    import resource

    def cap(which: int, value: int, hard: int | None = None) -> None:
        _, current = resource.getrlimit(which)
        top = hard if hard is not None else value
        if current != resource.RLIM_INFINITY:
            value, top = min(value, current), min(top, current)
        resource.setrlimit(which, (value, top))

    cpu = math.ceil(job.timeout_s * job.threads) + 5
    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_CPU, cpu, cpu + 5)
    cap(resource.RLIMIT_FSIZE, job.memory_bytes)
    if base := _virtual_size():
        cap(resource.RLIMIT_AS, base + job.memory_bytes)


def _say(payload: Mapping[str, Any]) -> None:
    sys.stdout.write(STATUS + json.dumps(payload) + "\n")
    sys.stdout.flush()


def _schema_names(con: Any, tables: Mapping[str, Sequence[str]]) -> list[str]:
    names = list(tables)
    for name in tables:
        described = con.execute(f"DESCRIBE {quote_identifier(name)}").fetchall()
        names.extend(str(r[0]) for r in described)
    return names


def _execute(job: ChildJob, engine: Any = None) -> dict[str, Any]:
    import duckdb
    import pyarrow as pa  # type: ignore[import-untyped]

    from passerelle.errors import UsageError
    from passerelle.research.redaction import redact_engine_error

    try:
        con = connect(job.tables, job.threads, job.memory_bytes, engine)
    except UsageError as exc:  # a name or path DuckDB cannot hold: a fixed sentence, no data
        return {"ok": False, "kind": "rule", "reason": "name", "message": str(exc)}
    names = _schema_names(con, job.tables)
    _set_limits(job)
    rows, truncated = 0, False
    try:
        reader = con.sql(job.sql).to_arrow_reader(min(job.max_rows + 1, 131_072))
        with pa.ipc.new_file("result.arrow.partial", reader.schema) as out:
            for batch in reader:
                keep = min(batch.num_rows, job.max_rows - rows)
                if keep < batch.num_rows:
                    truncated = True
                    batch = batch.slice(0, keep)
                out.write_batch(batch)
                rows += keep
                if truncated:
                    break
        os.replace("result.arrow.partial", "result.arrow")
    except (duckdb.OutOfMemoryException, MemoryError, pa.ArrowMemoryError):
        return {"ok": False, "kind": "resource", "reason": "memory-limit"}
    except duckdb.InterruptException:
        return {"ok": False, "kind": "resource", "reason": "time-limit"}
    except duckdb.PermissionException:
        return {"ok": False, "kind": "rule", "reason": "engine-refused"}
    except duckdb.Error as exc:
        error = redact_engine_error(type(exc).__name__, str(exc), job.sql, names)
        return {"ok": False, "kind": error.kind, "reason": error.reason, "message": error.message}
    except (OSError, pa.ArrowException):
        return {"ok": False, "kind": "engine", "reason": "result-failure"}
    finally:
        con.close()
    return {"ok": True, "rows": rows, "truncated": truncated}


def main() -> None:
    """The child's entry point: import, say ready, run one job from stdin, report, exit."""
    import pyarrow.ipc  # type: ignore[import-untyped]  # noqa: F401

    import passerelle.research.redaction  # noqa: F401

    engine = open_engine()  # DuckDB's and Arrow's set-up, done before any job arrives
    engine.sql("SELECT 1 AS x").to_arrow_reader(16).read_all()
    _say({"ready": True})
    line = sys.stdin.readline()
    if not line:
        return
    raw = json.loads(line)
    job = ChildJob(
        raw["sql"],
        {k: tuple(v) for k, v in raw["tables"].items()},
        int(raw["threads"]),
        int(raw["memory_bytes"]),
        int(raw["max_rows"]),
        float(raw["timeout_s"]),
    )
    try:
        status = _execute(job, engine)
    except MemoryError:
        status = {"ok": False, "kind": "resource", "reason": "memory-limit"}
    except Exception:  # anything else: its text may hold data, so only the kind leaves
        status = {"ok": False, "kind": "engine", "reason": "engine-failure"}
    _say(status)
