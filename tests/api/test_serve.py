"""``passerelle serve`` runs the API on uvicorn over a hub made by ``init_hub``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

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
