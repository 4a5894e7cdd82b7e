"""Hard limits: the query runs in a child process the operating system limits and kills.

Nothing here measures wall time: the tests look at how the child ended (its
signal, its peak RSS from ``wait4``), whether it is still alive, what it could
see (its environment) and what it left on disk.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from passerelle.errors import SandboxViolation
from passerelle.research import QueryLimits, TableSource, run_sandboxed
from passerelle.research.child import ChildJob, run_in_child, spawn_child


def test_a_query_far_over_its_memory_is_stopped_by_the_os(
    granted: dict[str, TableSource],
) -> None:
    # list() of 400 million BIGINTs needs over 3 GB, in aggregate states DuckDB's own
    # memory_limit does not count: only the address-space limit can stop it.
    with pytest.raises(SandboxViolation) as caught:
        run_sandboxed(
            "SELECT list(x) FROM range(400000000) t(x)",
            granted,
            QueryLimits(memory_mb=256, timeout_s=120),
        )
    error, outcome = caught.value, caught.value.details
    assert error.reason == "memory-limit" and outcome.kind == "resource"
    assert str(error).count(".") == 1 and "256 MB" in str(error) and "\n" not in str(error)
    assert outcome.decision == "refused" and outcome.result is None
    assert 0 < outcome.peak_memory_bytes < 1536 * 2**20  # far below the 3 GB it asked for
    assert outcome.audit_details()["peak_memory_mb"] > 0


def test_a_query_past_its_deadline_is_killed_and_the_child_is_gone(
    granted: dict[str, TableSource],
) -> None:
    bomb = "SELECT count(*) FROM range(1000000000) a, range(1000000) b"
    with pytest.raises(SandboxViolation) as caught:
        run_sandboxed(bomb, granted, QueryLimits(timeout_s=1))
    outcome = caught.value.details
    assert caught.value.reason == "time-limit" and outcome.kind == "resource"
    assert outcome.child_signal == "SIGKILL"  # killed at the deadline, not asked to stop
    assert outcome.child_pid is not None
    with pytest.raises(ProcessLookupError):  # reaped: not even a zombie is left
        os.kill(outcome.child_pid, 0)


def test_the_child_holds_no_credential_and_works_in_a_private_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-of-the-store")
    monkeypatch.setenv("AZURE_STORAGE_KEY", "azure-s3cr3t")
    monkeypatch.setenv("PASSERELLE_KEY_AUDIT", "hub-key-s3cr3t")
    import time

    from passerelle.research.child import _status_line

    child = spawn_child(tmp_path)
    try:
        assert _status_line(child, time.monotonic() + 60) == {"ready": True}
        child.ready = True
        environ = Path(f"/proc/{child.proc.pid}/environ").read_bytes()
        assert b"s3cr3t" not in environ
        assert set(dict(v.split(b"=", 1) for v in environ.split(b"\0") if v)) == {
            b"PATH",
            b"HOME",
            b"TMPDIR",
            b"LC_ALL",
        }
        assert os.readlink(f"/proc/{child.proc.pid}/cwd") == str(child.workdir)
        assert (child.workdir.stat().st_mode & 0o777) == 0o700
        report = run_in_child(child, ChildJob("SELECT 42 AS x", {}, 1, 64 * 2**20, 10, 30))
        assert report.status == {"ok": True, "rows": 1, "truncated": False}
        assert report.result_path is not None and report.result_path.exists()
    finally:
        child.close()
    assert not child.workdir.exists()
    assert list(tmp_path.iterdir()) == []


def test_the_os_limits_are_set_in_the_child(tmp_path: Path) -> None:
    child = spawn_child(tmp_path)
    try:
        job = ChildJob(
            "SELECT count(*) FROM range(1000000000) a, range(1000000) b", {}, 1, 300 * 2**20, 1, 60
        )
        import threading

        limits: list[str] = []

        def watch() -> None:  # read the limits while the query runs, then stop it
            import time

            for _ in range(2000):
                text = Path(f"/proc/{child.proc.pid}/limits").read_text()
                if "Max address space" in text and "unlimited" not in _line(text, "address"):
                    limits.append(text)
                    break
                time.sleep(0.01)
            child.proc.send_signal(signal.SIGKILL)

        watcher = threading.Thread(target=watch)
        watcher.start()
        report = run_in_child(child, job)
        watcher.join()
    finally:
        child.close()
    assert report.signal == "SIGKILL" and report.status is None
    assert limits, "the address-space limit was never set"
    assert _line(limits[0], "core").split()[-3:-1] == ["0", "0"]
    assert int(_line(limits[0], "file size").split()[-3]) == 300 * 2**20
    assert int(_line(limits[0], "cpu time").split()[-3]) == 65  # 60 s x 1 thread + 5
    assert int(_line(limits[0], "address").split()[-3]) > 300 * 2**20


def _line(limits: str, what: str) -> str:
    return next(line for line in limits.splitlines() if what in line.lower())


def test_a_warm_pool_gives_each_query_its_own_child_and_cleans_up(
    granted: dict[str, TableSource], tmp_path: Path
) -> None:
    from passerelle.research.child import ChildPool

    pool = ChildPool(1, parent=tmp_path)
    first = run_sandboxed("SELECT count(*) AS n FROM stays", granted, pool=pool)
    assert pool.spares == 1  # refilled once the query was over
    spare = pool._spares[0]
    second = run_sandboxed("SELECT count(*) AS n FROM stays", granted, pool=pool)
    assert second.child_pid == spare.proc.pid != first.child_pid  # the spare ran it
    assert first.result is not None and first.result.equals(second.result)
    for outcome in (first, second):  # one query per child: each is dead after its query
        assert outcome.child_pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(outcome.child_pid, 0)
    dead = pool._spares[0].proc
    dead.kill()  # a spare that died is replaced, not used
    dead.wait()  # dead for certain: a SIGKILL is delivered asynchronously
    with pytest.raises(SandboxViolation):
        run_sandboxed(
            "SELECT count(*) FROM range(1000000000) a, range(1000000) b",
            granted,
            QueryLimits(timeout_s=0.5),
            pool=pool,
        )
    pool.close()
    assert pool.spares == 0
    assert list(tmp_path.iterdir()) == []


def test_the_status_line_is_found_behind_other_output(tmp_path: Path) -> None:
    # DuckDB's progress bar (queries over 2 s) writes "\r" frames to stdout with no newline:
    # the status line that follows them must still be read (it once was lost).
    import subprocess
    import sys
    import time

    from passerelle.research.child import STATUS, SpawnedChild, _status_line

    noise = "\r[=====>    ] 50%\r[==========] 100%\r"
    code = f"import sys; sys.stdout.write({noise!r} + {STATUS!r} + '{{\"ok\": true}}\\n')"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    child = SpawnedChild(proc, tmp_path / "unused")
    try:
        assert _status_line(child, time.monotonic() + 30) == {"ok": True}
    finally:
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_concurrent_queries_share_a_pool_and_a_cache(
    granted: dict[str, TableSource], tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from passerelle.research import ScanCache
    from passerelle.research.child import ChildPool

    pool, cache = ChildPool(1, parent=tmp_path / "tmp"), ScanCache(tmp_path / "cache")
    (tmp_path / "tmp").mkdir()
    sqls = [f"SELECT count(*) AS n FROM stays WHERE los_days >= {i}" for i in range(6)]
    with ThreadPoolExecutor(3) as workers:
        outcomes = list(
            workers.map(lambda s: run_sandboxed(s, granted, cache=cache, pool=pool), sqls)
        )
    expected = [sum(1 for d in range(120) if d % 9 >= i) for i in range(6)]
    assert [o.result.to_pylist()[0]["n"] for o in outcomes if o.result is not None] == expected
    assert len({o.child_pid for o in outcomes}) == 6  # one child per query
    pool.close()
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not cache._in_use  # every query released the copies it held
