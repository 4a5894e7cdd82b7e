"""Debian's Chromium driven by Playwright, against `passerelle serve` on 127.0.0.1.

``playwright install`` cannot download a browser here: the tests launch the
binary Debian's ``chromium`` package installs, headless, with a fresh profile,
background networking off. Every request a page makes is recorded, so a test can
insist that nothing left the hub's origin; console errors (a CSP refusal is one)
are recorded too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_PATHS = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_binary() -> str:
    """Debian's Chromium, or skip (fail when the servers are required, as in CI)."""
    for path in CHROMIUM_PATHS:
        if os.access(path, os.X_OK):
            return path
    message = "Debian's chromium is not installed (apt-get install chromium)"
    if os.environ.get("PASSERELLE_REQUIRE_SERVERS") == "1":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Served:
    """A `passerelle serve` process and its base URL."""

    url: str
    process: subprocess.Popen[bytes]


def serve(directory: Path, port: int, log: Path) -> Served:
    """Start `passerelle serve --hub directory` on 127.0.0.1:port; wait until it answers."""
    exe = Path(sys.executable).with_name("passerelle")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "passerelle"]
    process = subprocess.Popen(
        [*command, "serve", "--hub", str(directory), "--port", str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"passerelle serve exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return Served(url, process)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("passerelle serve did not answer within 60 s")


@dataclass
class Tab:
    """One browser context (its own cookies) with one page, and what it saw."""

    page: Any
    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def outside(self) -> list[str]:
        """Requests to anything but the hub's origin (there must be none)."""
        return [u for u in self.requests if not u.startswith(self.origin + "/")]


def open_tab(browser: Any, origin: str) -> Tab:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    page = context.new_page()
    tab = Tab(page, origin)
    context.on("request", lambda request: tab.requests.append(request.url))
    page.on("console", lambda msg: tab.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    return tab


def screenshot(tab: Tab, name: str) -> None:
    """Save the page to ``$PASSERELLE_SCREENSHOTS/<name>.png`` when that folder is set."""
    folder = os.environ.get("PASSERELLE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        tab.page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def stop(served: Served) -> None:
    served.process.terminate()
    try:
        served.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait()


__all__ = [
    "CHROMIUM_ARGS",
    "Served",
    "Tab",
    "chromium_binary",
    "open_tab",
    "screenshot",
    "serve",
    "stop",
]
