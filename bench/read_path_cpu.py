"""CPU per request of the hub's two hottest reads, in one process, without a load generator
(issue 14: what a catalog read and a portal page cost the server).

    .venv/bin/python bench/read_path_cpu.py --requests 400 --repeats 5
    .venv/bin/python bench/read_path_cpu.py --profile /tmp/read-path.txt   # py-spy as well

The hub is ``bench/portal_load.py``'s (the demo's, 500 persons, on a fresh PostgreSQL
database of the server named, dropped afterwards). The real app (``create_app`` with
``serve``'s thread limits, its lifespan run) is called as ASGI directly, one request at a
time, so nothing but the server's own work is counted: ``GET /datasets`` with rita's
bearer token and ``GET /portal/catalog`` with a portal session's cookie. Each repeat
runs both scenarios in rotated order after a warm-up; printed per scenario: the median
over the repeats of the process's CPU (``time.process_time``, every thread) per request,
and of PostgreSQL's (its backends' user + system time from ``/proc``, when readable).
With ``--profile``, py-spy then records the process (``--gil``, collapsed stacks, which
speedscope and flamegraph.pl read) while it answers ``--profile-requests`` more of each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from portal_load import (  # noqa: E402
    _build,
    _drop_database,
    _fresh_database,
    add_database_argument,
    database_url,
)

Call = Callable[[], Any]


class AsgiClient:
    """One request at a time straight into an ASGI app (no sockets, no HTTP parsing)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        raw_path, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": raw_path,
            "raw_path": raw_path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"hub.test")]
            + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
        }
        done = asyncio.Event()
        sent = False
        status = 0
        body: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if not message.get("more_body"):
                    done.set()

        await self.app(scope, receive, send)
        return status, b"".join(body)


def _postgres_cpu(database: str) -> Callable[[], float]:
    """A reader of the CPU seconds PostgreSQL's backends serving ``database`` have used
    (0.0 when ``/proc`` of the server is not readable, e.g. a remote server)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database.rpartition("/")[0] + "/postgres")
    name = database.rpartition("/")[2]
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        with engine.connect() as connection:
            pids = connection.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            ).scalars()
            total = 0
            for pid in pids:
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                except OSError:
                    continue
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / tick

    read.dispose = engine.dispose  # type: ignore[attr-defined]
    return read


async def _run(args: argparse.Namespace, hub_dir: Path, token: str, database: str) -> None:
    from passerelle.api.app import create_app
    from passerelle.api.threads import ThreadLimits
    from passerelle.hub.hub import Hub
    from passerelle.portal.session import SESSION_COOKIE, start_session

    hub = Hub.open(hub_dir)
    app = create_app(hub, threads=ThreadLimits())
    client = AsgiClient(app)
    _, issued = start_session(hub, token, source="127.0.0.1", limiter=None)
    scenarios = {
        "GET /datasets": ("/datasets", {"authorization": f"Bearer {token}"}),
        "GET /portal/catalog": (
            "/portal/catalog",
            {"cookie": f"{SESSION_COOKIE}={issued.secret}"},
        ),
    }
    postgres_cpu = _postgres_cpu(database)

    async def batch(name: str, n: int) -> None:
        path, headers = scenarios[name]
        for _ in range(n):
            status, _body = await client.get(path, headers)
            if status != 200:
                raise SystemExit(f"{name} answered {status}: {_body[:200]!r}")

    cpu: dict[str, list[float]] = {name: [] for name in scenarios}
    pg: dict[str, list[float]] = {name: [] for name in scenarios}
    wall: dict[str, list[float]] = {name: [] for name in scenarios}
    async with app.router.lifespan_context(app):
        for name in scenarios:
            await batch(name, args.warmup)
        names = list(scenarios)
        for repeat in range(args.repeats):
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                pg0, cpu0, wall0 = postgres_cpu(), time.process_time(), time.perf_counter()
                await batch(name, args.requests)
                cpu1, wall1, pg1 = time.process_time(), time.perf_counter(), postgres_cpu()
                cpu[name].append((cpu1 - cpu0) * 1000 / args.requests)
                wall[name].append((wall1 - wall0) * 1000 / args.requests)
                pg[name].append((pg1 - pg0) * 1000 / args.requests)
                print(
                    f"repeat {repeat + 1} {name}: {cpu[name][-1]:.2f} ms CPU, "
                    f"{pg[name][-1]:.2f} ms PostgreSQL, {wall[name][-1]:.2f} ms wall per request",
                    flush=True,
                )
        if args.profile:
            command = [args.py_spy, "record", "--gil", "-r", "200", "-f", "raw"]
            command += ["-o", args.profile, "--pid", str(os.getpid())]
            spy = subprocess.Popen(command, stdout=subprocess.DEVNULL)
            await asyncio.sleep(2)  # py-spy attaches
            for name in scenarios:
                await batch(name, args.profile_requests)
            spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
            spy.wait(timeout=60)
            print(f"profile: {args.profile}")
    postgres_cpu.dispose()  # type: ignore[attr-defined]
    hub.close()
    print()
    print("| scenario | requests x repeats | CPU ms/request | PostgreSQL ms/request | wall ms |")
    print("|---|---|---|---|---|")
    for name in scenarios:
        print(
            f"| {name} | {args.requests} x {args.repeats} | {statistics.median(cpu[name]):.2f} "
            f"(min {min(cpu[name]):.2f}, max {max(cpu[name]):.2f}) | "
            f"{statistics.median(pg[name]):.2f} | {statistics.median(wall[name]):.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_argument(parser)
    parser.add_argument("--requests", type=int, default=400, help="Per scenario and repeat.")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--profile", help="Also write a py-spy profile here (collapsed stacks).")
    parser.add_argument("--profile-requests", type=int, default=1500)
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "/tmp/pyspy/bin/py-spy")
    args = parser.parse_args()
    server = database_url(args)
    folder = Path(tempfile.mkdtemp(prefix="read-path-"))
    database, database_name = _fresh_database(server)
    try:
        hub_dir, token, _project = _build(folder / "demo", database)
        asyncio.run(_run(args, hub_dir, token, database))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        _drop_database(server, database_name)


if __name__ == "__main__":
    main()
