"""``passerelle demo --serve`` tried as a new user would: open the printed URL, sign in
as each role with the printed tokens, and do each job over HTTP on the real server."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

TOKEN_LINE = re.compile(r"^\s+(\w+)\s+([\w-]+)\s+(pst_\S+)\s*$")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    """The lines ``proc`` prints up to the one holding ``marker`` (read by a thread, so a
    quiet process cannot block the test past ``timeout``)."""
    lines: list[str] = []
    seen = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if marker in line:
                seen.set()

    threading.Thread(target=pump, daemon=True).start()
    assert seen.wait(timeout), "".join(lines)
    return list(lines)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], str, subprocess.Popen[str]]]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "passerelle",
        "demo",
        "--serve",
        "--workdir",
        str(tmp_path / "demo"),
        "--persons",
        "150",
        "--archive",
        "40",
        "--port",
        str(port),
        "--move-bandwidth",
        "512KiB/s",
    ]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        lines = _read_until(proc, "Press Ctrl+C", timeout=300)
        text = "".join(lines)
        url = re.search(r"Open (http://\S+/) in a browser", text)
        destination = re.search(r"destination (file://\S+)", text)
        assert url and destination, text
        tokens = {m.group(1): m.group(3) for m in map(TOKEN_LINE.match, lines) if m}
        assert set(tokens) == {"admin", "claire", "marc", "rita", "oscar", "omar", "aude"}
        base = url.group(1).rstrip("/")
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "not serving"
                time.sleep(0.2)
        yield base, tokens, destination.group(1), proc
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl+C
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise


def _csrf(html: str, field: str = "csrf") -> str:
    found = re.search(rf'name="{field}" value="([^"]*)"', html)
    assert found, html
    return found.group(1)


def _person(base: str, token: str) -> httpx.Client:
    """A browser-like client signed in with ``token`` through the sign-in page."""
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=True)
    page = client.get("/signin")
    answer = client.post(
        "/signin", data={"token": token, "nonce": _csrf(page.text, "nonce"), "next": "/portal/"}
    )
    assert answer.status_code == 200 and "Sign out" in answer.text, answer.text
    return client


def _same_origin_only(html: str) -> None:
    for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert ref.startswith(("/", "#", "?")), ref  # nothing from the Internet


def test_each_role_does_its_job_on_the_served_demo(
    served: tuple[str, dict[str, str], str, subprocess.Popen[str]],
) -> None:
    base, tokens, destination, proc = served

    rita = _person(base, tokens["rita"])
    projects = rita.get("/portal/projects")
    _same_origin_only(projects.text)
    project = re.search(r'href="/portal/projects/(\d+)"', projects.text)
    assert project and "Diabetes care pathways" in projects.text
    pid = project.group(1)
    editor = rita.get(f"/portal/projects/{pid}/queries")
    sql = (
        "SELECT postcode AS departement, count(DISTINCT person_id) AS n_persons "
        "FROM pmsi_stays GROUP BY 1 ORDER BY 1"
    )
    result = rita.post(
        f"/portal/projects/{pid}/queries", data={"sql": sql, "csrf": _csrf(editor.text)}
    )
    assert result.status_code == 200 and "n_persons" in result.text, result.text
    query = re.search(r'action="/portal/queries/(\d+)/release"', result.text)
    assert query
    release = rita.post(
        f"/portal/queries/{query.group(1)}/release", data={"csrf": _csrf(result.text)}
    )
    assert release.status_code == 200
    release_id = re.search(r"/portal/releases/(\d+)", str(release.url))
    assert release_id

    oscar = _person(base, tokens["oscar"])
    queue = oscar.get("/portal/releases")
    assert f"/portal/releases/{release_id.group(1)}" in queue.text
    page = oscar.get(f"/portal/releases/{release_id.group(1)}")
    if 'value="approve"' in page.text:  # flagged: the checker decides
        decided = oscar.post(
            f"/portal/releases/{release_id.group(1)}/decide",
            data={"csrf": _csrf(page.text), "decision": "approve", "reason": "aggregate only"},
        )
        assert decided.status_code == 200 and "Download the released table" in decided.text

    aude = _person(base, tokens["aude"])
    verify = aude.get("/portal/audit/verify")
    assert "The chain is intact" in verify.text
    where = aude.get("/portal/compliance")
    for name in ("pmsi_stays", "dcir_claims", "fhir_patient"):
        assert name in where.text

    claire = _person(base, tokens["claire"])
    ingests = claire.get("/portal/ingests")
    assert ingests.text.count('class="run"') == 3 and "Quarantine reasons" in ingests.text

    omar = _person(base, tokens["omar"])
    confirm = omar.get("/portal/operator/start")
    started = omar.post(
        "/portal/operator/start", data={"csrf": _csrf(confirm.text), "destination": destination}
    )
    assert started.status_code == 200 and "mirroring" in started.text, started.text
    deadline = time.monotonic() + 240
    seen: list[dict[str, object]] = []
    while time.monotonic() < deadline:  # the chart's feed, as the page polls it
        sample = omar.get("/portal/operator/samples.json").json()
        seen.append(sample)
        if sample["objects_total"] and sample["objects_done"] == sample["objects_total"]:
            break
        time.sleep(0.5)
    assert seen[-1]["objects_done"] == seen[-1]["objects_total"] > 0, seen[-1]
    assert any(0 < int(s["objects_done"]) < int(s["objects_total"]) for s in seen), seen
    confirm = omar.get("/portal/operator/cutover")
    cut = omar.post("/portal/operator/cutover", data={"csrf": _csrf(confirm.text)})
    assert cut.status_code == 200, cut.text
    assert omar.get("/portal/operator/samples.json").json()["phase"] == "cutover"
    assert proc.poll() is None
