"""``passerelle serve`` runs the API on uvicorn over a hub made by ``init_hub``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from passerelle.hub import init_hub


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "passerelle", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _started(proc: subprocess.Popen[str], base: str) -> httpx.Response:
    """``/health``'s first answer (given once the first worker is up)."""
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.communicate()
        try:
            return httpx.get(f"{base}/health", timeout=2)
        except httpx.TransportError:
            assert time.monotonic() < deadline, "passerelle serve did not start"
            time.sleep(0.2)


def test_serve_answers_health_docs_and_tokens(tmp_path: Path) -> None:
    hub, issued = init_hub(tmp_path / "hub")
    hub.close()
    port = _free_port()
    proc = _serve("--port", str(port), env={"PASSERELLE_HUB": str(tmp_path / "hub")})
    base = f"http://127.0.0.1:{port}"
    try:
        health = _started(proc, base)
        assert health.status_code == 200 and health.json()["database"] == "sqlite"
        me = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {issued.secret}"})
        assert me.json()["name"] == "admin"
        refused = httpx.get(f"{base}/me")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "passerelle hub"
        assert httpx.get(f"{base}/docs").status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_serve_without_a_hub_says_what_to_do(tmp_path: Path) -> None:
    proc = _serve("--hub", str(tmp_path / "none"), "--port", str(_free_port()))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "passerelle init" in err and "Traceback" not in err


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_serve_with_two_workers_keeps_one_audit_chain(tmp_path: Path, database: str) -> None:
    """Two processes answer and audit at once; the chain they write together verifies."""
    from concurrent.futures import ThreadPoolExecutor

    from passerelle.hub import Hub, verify_audit
    from tests.api.conftest import drop_postgres_database, fresh_postgres_database, require_postgres

    url, name = (None, None)
    if database == "postgresql":
        url, name = fresh_postgres_database(require_postgres())
    hub, issued = init_hub(tmp_path / "hub", database=url)
    hub.close()
    port = _free_port()
    proc = _serve("--workers", "2", "--port", str(port), "--hub", str(tmp_path / "hub"))
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {issued.secret}"}
    try:
        _started(proc, base)

        def read(_: int) -> int:
            return httpx.get(f"{base}/datasets", headers=auth, timeout=60).status_code

        with ThreadPoolExecutor(16) as pool:
            assert set(pool.map(read, range(200))) == {200}
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    assert err.count("Started server process") == 2  # two workers answered
    reopened = Hub.open(tmp_path / "hub")
    try:
        report = verify_audit(reopened)
        assert report.ok and report.chain.events >= 200
    finally:
        reopened.close()
        if name is not None:
            drop_postgres_database(require_postgres(), name)


def _sockets_on(port: int) -> list[tuple[str, str]]:
    """(state, inode) of each TCP socket whose local port is ``port`` (from /proc)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.append((fields[3], fields[9]))
    return found


def _listening_sockets(port: int) -> int:
    """How many sockets listen on ``port`` (one per worker with SO_REUSEPORT)."""
    return sum(state == "0A" for state, _ in _sockets_on(port))


def _connections_by_process(port: int) -> dict[int, int]:
    """How many established connections to ``port`` each process holds (from /proc)."""
    from collections import Counter

    inodes = {f"socket:[{inode}]" for state, inode in _sockets_on(port) if state == "01"}
    held: Counter[int] = Counter()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:  # gone, or not ours to read
            continue
        held[int(pid)] += sum(link in inodes for link in links)
    return {pid: n for pid, n in held.items() if n}


def _burst(port: int, count: int) -> list[socket.socket]:
    """``count`` connections opened back to back (the kernel completes each before any
    worker accepts), then one request on each, its answer read: all kept open."""
    opened = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(count)]
    for sock in opened:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: hub\r\n\r\n")
    for sock in opened:
        assert sock.recv(64).startswith(b"HTTP/1.1 200")
    return opened


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
def test_a_burst_of_connections_is_spread_over_the_workers(tmp_path: Path) -> None:
    """32 keep-alive connections opened at once: each of two workers holds some of them
    (with one shared socket, the first process awake accepted all 32)."""
    hub, _ = init_hub(tmp_path / "hub")
    hub.close()
    port = _free_port()
    proc = _serve("--workers", "2", "--port", str(port), "--hub", str(tmp_path / "hub"))
    base = f"http://127.0.0.1:{port}"
    try:
        _started(proc, base)
        deadline = time.monotonic() + 60
        while _listening_sockets(port) < 2:  # /health answers once the first worker is up
            assert time.monotonic() < deadline, "the second worker never listened"
            time.sleep(0.2)
        for _ in range(3):
            opened = _burst(port, 32)
            held = _connections_by_process(port)
            for sock in opened:
                sock.close()
            assert sum(held.values()) == 32 and len(held) == 2, held
            assert min(held.values()) >= 4, held  # hashed: below 4 of 32 once in 10**5 bursts
            time.sleep(0.5)  # the workers see the connections closed
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
def test_a_killed_worker_is_replaced_on_its_own_socket(tmp_path: Path) -> None:
    """kill -9 of one worker: its replacement answers what the kernel hashes to its socket,
    so every new connection is answered (none hangs on an orphaned socket)."""
    import signal
    from concurrent.futures import ThreadPoolExecutor

    hub, _ = init_hub(tmp_path / "hub")
    hub.close()
    port = _free_port()
    proc = _serve("--workers", "2", "--port", str(port), "--hub", str(tmp_path / "hub"))
    base = f"http://127.0.0.1:{port}"
    try:
        _started(proc, base)
        clients = [httpx.Client(base_url=base, timeout=5) for _ in range(16)]
        with ThreadPoolExecutor(16) as pool:
            assert set(pool.map(lambda c: c.get("/health").status_code, clients)) == {200}
        workers = sorted(_connections_by_process(port))
        for client in clients:
            client.close()
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:  # the supervisor checks its workers every half second
            try:
                os.kill(workers[0], 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)

        def fresh(_: int) -> int:
            with httpx.Client(base_url=base, timeout=60) as client:
                return client.get("/health").status_code

        with ThreadPoolExecutor(16) as pool:  # answered once the replacement has started
            assert set(pool.map(fresh, range(64))) == {200}
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert "died" in err and err.count("Started server process") == 3, err[-2000:]
