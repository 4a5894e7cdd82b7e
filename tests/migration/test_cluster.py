"""`migrate run` on Dask: a real scheduler and two workers, one killed with kill -9 mid-run."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from passerelle.migration import verify_migration
from passerelle.storage import open_store
from tests.backends import closed_port, new_store_url

from .conftest import populate

DASK = Path(sys.executable).with_name("dask")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "passerelle", *args]


def _journal_rows(journal: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # the table is not there yet
        return []
    finally:
        conn.close()


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("the Dask scheduler did not start")


def _wait_for_workers(address: str, count: int, limit: float = 90) -> None:
    import distributed

    with distributed.Client(address, timeout=30, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=limit)


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A `dask scheduler` and two `dask worker` processes on 127.0.0.1, stopped afterwards."""
    pytest.importorskip("distributed")
    port = closed_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        scheduler = subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=(logs / "scheduler.log").open("wb"),
            env=env,
        )
        procs.append(scheduler)
        _wait_for_port(port, scheduler)
        workers = []
        for n in range(2):
            worker = subprocess.Popen(
                [
                    str(DASK),
                    "worker",
                    address,
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "2",
                    "--no-nanny",
                    "--no-dashboard",
                    "--name",
                    f"w{n}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=(logs / f"worker-{n}.log").open("wb"),
                env=env,
            )
            procs.append(worker)
            workers.append(worker)
        _wait_for_workers(address, 2)
        yield address, workers
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_two_dask_workers_one_killed_mid_run_then_rerun_is_proven(
    dask_cluster: tuple[str, list[subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    address, workers = dask_cluster
    src_url = new_store_url("azurite", tmp_path / "a", "src")
    dst_url = new_store_url("ceph", tmp_path / "b", "dst")
    objects = populate(open_store(src_url), 300, large=2)
    journal = tmp_path / "j.db"
    env = {**os.environ, "NO_COLOR": "1"}
    plan = subprocess.run(
        cli("migrate", "plan", src_url, dst_url, "-j", str(journal), "--part-size", "5MiB"),
        capture_output=True,
        text=True,
        env=env,
    )
    assert plan.returncode == 0, plan.stderr
    run = subprocess.Popen(
        cli(
            "migrate",
            "run",
            "-j",
            str(journal),
            "--cluster",
            address,
            "--inject-faults",
            "seed=5,latency=1,latency_s=0.005-0.02",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:  # a large object is streaming
        if _journal_rows(journal, "SELECT 1 FROM upload_parts LIMIT 1"):
            break
        time.sleep(0.02)
    assert run.poll() is None, "the run ended before a worker could be killed"
    workers[0].send_signal(signal.SIGKILL)
    workers[0].wait()
    first, _ = run.communicate(timeout=600)
    assert run.returncode in (0, 1), first
    done = dict(_journal_rows(journal, "SELECT key, copied_at FROM objects WHERE status = 'done'"))
    assert len(done) > 0
    dst = open_store(dst_url)
    for info in dst.list():  # nothing partial is ever visible
        assert info.size == len(objects[info.key]), info.key
    again = subprocess.run(
        cli("migrate", "run", "-j", str(journal), "--cluster", address),
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    after = dict(_journal_rows(journal, "SELECT key, copied_at FROM objects WHERE status = 'done'"))
    assert set(after) == set(objects)
    for key, copied_at in done.items():  # finished objects are never copied again
        assert after[key] == copied_at, key
    verify = subprocess.run(
        cli("migrate", "verify", "-j", str(journal), "--deep"),
        capture_output=True,
        text=True,
        env=env,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify_migration(journal, deep=True).ok
    assert list(dst.list_uploads()) == []  # no incomplete multipart upload left


def test_run_on_a_local_cluster_of_two_processes(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    src_url = new_store_url("file", tmp_path / "a", "src")
    dst_url = new_store_url("file", tmp_path / "b", "dst")
    objects = populate(open_store(src_url), 24, large=1)
    journal = tmp_path / "j.db"
    env = {**os.environ, "NO_COLOR": "1"}
    subprocess.run(
        cli("migrate", "plan", src_url, dst_url, "-j", str(journal), "--part-size", "5MiB"),
        check=True,
        capture_output=True,
        env=env,
    )
    run = subprocess.run(
        cli("migrate", "run", "-j", str(journal), "--workers", "2", "--concurrency", "4"),
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"copied {len(objects)} objects" in run.stdout
    assert verify_migration(journal, deep=True).ok
    status = subprocess.run(
        cli("migrate", "status", "-j", str(journal)), capture_output=True, text=True, env=env
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert "over 2 workers" in status.stdout
    lines = [ln.strip() for ln in status.stdout.splitlines() if ln.strip().startswith("tcp://")]
    assert len(lines) == 2 and all(ln.endswith("alive") for ln in lines), status.stdout
    done = sum(int(ln.split(": ")[1].split(" objects")[0]) for ln in lines)
    assert done == len(objects)
    assert "tcp://" in run.stderr  # the live display lists the workers too


def test_cluster_errors_are_one_sentence(tmp_path: Path) -> None:
    src_url = new_store_url("file", tmp_path / "a", "src")
    dst_url = new_store_url("file", tmp_path / "b", "dst")
    populate(open_store(src_url), 3, large=0)
    journal = tmp_path / "j.db"
    env = {**os.environ, "NO_COLOR": "1"}
    subprocess.run(
        cli("migrate", "plan", src_url, dst_url, "-j", str(journal)),
        check=True,
        capture_output=True,
        env=env,
    )
    address = f"tcp://127.0.0.1:{closed_port()}"
    unreachable = subprocess.run(
        cli("migrate", "run", "-j", str(journal), "--cluster", address),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    out = unreachable.stdout + unreachable.stderr
    assert unreachable.returncode != 0
    assert f"The Dask scheduler at {address} did not answer" in out
    assert "Traceback" not in out
    both = subprocess.run(
        cli("migrate", "run", "-j", str(journal), "--cluster", address, "--workers", "2"),
        capture_output=True,
        text=True,
        env=env,
    )
    assert both.returncode == 2
    assert "not both" in both.stdout + both.stderr


def _start_dask(
    port: int, logs: Path, tag: str
) -> tuple[subprocess.Popen[bytes], list[subprocess.Popen[bytes]]]:
    """A `dask scheduler` on ``port`` and two `dask worker` processes joined to it."""
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen(
        [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=(logs / f"scheduler-{tag}.log").open("wb"),
        env=env,
    )
    _wait_for_port(port, scheduler)
    workers = [
        subprocess.Popen(
            [
                str(DASK),
                "worker",
                address,
                "--host",
                "127.0.0.1",
                "--nthreads",
                "2",
                "--no-nanny",
                "--no-dashboard",
                "--name",
                f"{tag}-w{n}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(logs / f"worker-{tag}-{n}.log").open("wb"),
            env=env,
        )
        for n in range(2)
    ]
    _wait_for_workers(address, 2)
    return scheduler, workers


def _stop(procs: list[subprocess.Popen[bytes]], sig: int = signal.SIGTERM) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(sig)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_scheduler_killed_mid_run_then_restarted_and_rerun_is_proven(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    port = closed_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    src_url = new_store_url("azurite", tmp_path / "a", "src")
    dst_url = new_store_url("ceph", tmp_path / "b", "dst")
    objects = populate(open_store(src_url), 120, large=2)
    journal = tmp_path / "j.db"
    env = {**os.environ, "NO_COLOR": "1"}
    plan = subprocess.run(
        cli("migrate", "plan", src_url, dst_url, "-j", str(journal), "--part-size", "5MiB"),
        capture_output=True,
        text=True,
        env=env,
    )
    assert plan.returncode == 0, plan.stderr
    procs: list[subprocess.Popen[bytes]] = []
    try:
        scheduler, workers = _start_dask(port, logs, "first")
        procs += [scheduler, *workers]
        run = subprocess.Popen(
            cli(
                "migrate",
                "run",
                "-j",
                str(journal),
                "--cluster",
                address,
                "--inject-faults",
                "seed=5,latency=1,latency_s=0.01-0.03",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and run.poll() is None:  # a large object streams
            if _journal_rows(journal, "SELECT 1 FROM upload_parts LIMIT 1"):
                break
            time.sleep(0.02)
        assert run.poll() is None, "the run ended before the scheduler could be killed"
        scheduler.send_signal(signal.SIGKILL)
        scheduler.wait()
        _stop(workers, signal.SIGKILL)  # their tasks die with them, uploads half-sent
        first, _ = run.communicate(timeout=600)
        assert run.returncode == 1, first
        assert "Traceback" not in first and " - ERROR - " not in first, first
        assert "still pending" in first, first
        assert "stopped answering" in first, first  # why, in the same sentence
        scheduler, workers = _start_dask(port, logs, "second")  # restarted, same address
        procs += [scheduler, *workers]
        again = subprocess.run(
            cli("migrate", "run", "-j", str(journal), "--cluster", address),
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        _stop(list(reversed(procs)))
    done = _journal_rows(journal, "SELECT key FROM objects WHERE status = 'done'")
    assert {k for (k,) in done} == set(objects)
    verify = subprocess.run(
        cli("migrate", "verify", "-j", str(journal), "--deep"),
        capture_output=True,
        text=True,
        env=env,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert list(open_store(dst_url).list_uploads()) == []  # no incomplete upload left
