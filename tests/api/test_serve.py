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


def test_serve_answers_health_docs_and_tokens(tmp_path: Path) -> None:
    hub, issued = init_hub(tmp_path / "hub")
    hub.close()
    port = _free_port()
    proc = _serve("--port", str(port), env={"PASSERELLE_HUB": str(tmp_path / "hub")})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "passerelle serve did not start"
                time.sleep(0.2)
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
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "passerelle serve did not start"
                time.sleep(0.2)

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
