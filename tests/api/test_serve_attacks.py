"""``X-Forwarded-For`` against the real server that ``passerelle serve`` runs.

``tests/api/test_auth_floods.py`` drives the app in-process, where no proxy
middleware runs; uvicorn, by default, believes ``X-Forwarded-For`` from any
client connecting from 127.0.0.1, so a flooder on the hub's machine (or behind an
SSH tunnel) could name a new address on every guess and never be throttled.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from passerelle.hub import init_hub
from tests.api.test_serve import _free_port, _serve


def _started(port: int, *args: str, hub: Path) -> tuple[object, str]:
    proc = _serve("--port", str(port), *args, env={"PASSERELLE_HUB": str(hub)})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.communicate()
        try:
            httpx.get(f"{base}/health", timeout=2)
            return proc, base
        except httpx.TransportError:
            assert time.monotonic() < deadline, "passerelle serve did not start"
            time.sleep(0.2)


@pytest.mark.parametrize("trusted", [None, "192.0.2.1"])
def test_a_spoofed_forwarded_for_does_not_escape_the_flood_limit(
    tmp_path: Path, trusted: str | None
) -> None:
    hub, _ = init_hub(tmp_path / "hub")
    limit = hub.config.auth_failures
    hub.close()
    args = () if trusted is None else ("--forwarded-allow-ips", trusted)  # not us: ignored
    proc, base = _started(_free_port(), *args, hub=tmp_path / "hub")
    try:
        statuses = []
        for i in range(limit + 3):
            headers = {"Authorization": f"Bearer pst_guess{i}", "X-Forwarded-For": f"10.0.0.{i}"}
            statuses.append(httpx.get(f"{base}/me", headers=headers).status_code)
        assert statuses == [401] * limit + [429] * 3
    finally:
        proc.terminate()  # type: ignore[attr-defined]
        proc.communicate(timeout=30)  # type: ignore[attr-defined]


def test_a_trusted_proxy_address_is_believed(tmp_path: Path) -> None:
    """With ``--forwarded-allow-ips 127.0.0.1`` (the proxy is on this machine), the
    forwarded address is the client's: two clients behind it have windows of their own."""
    hub, _ = init_hub(tmp_path / "hub")
    limit = hub.config.auth_failures
    hub.close()
    proc, base = _started(_free_port(), "--forwarded-allow-ips", "127.0.0.1", hub=tmp_path / "hub")
    try:
        for i in range(limit + 1):  # the client prepends a new address each time; the
            forwarded = f"10.0.0.{i}, 198.51.100.1"  # proxy appends the one it saw
            headers = {"Authorization": f"Bearer pst_a{i}", "X-Forwarded-For": forwarded}
            last = httpx.get(f"{base}/me", headers=headers)
        assert last.status_code == 429 and "198.51.100.1" in last.text
        other = {"Authorization": "Bearer pst_b", "X-Forwarded-For": "198.51.100.2"}
        assert httpx.get(f"{base}/me", headers=other).status_code == 401
    finally:
        proc.terminate()  # type: ignore[attr-defined]
        proc.communicate(timeout=30)  # type: ignore[attr-defined]
