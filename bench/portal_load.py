"""The hub under load: catalog reads, a portal page and researchers' queries with many
clients at once, one server process against several (issue 14).

    bash bench/run.sh portal-load --runs 5      # PostgreSQL from the servers script
    .venv/bin/python bench/portal_load.py --database URL --runs 5

The hub is the demo's (a synthetic population ingested, a researcher's approved and
granted project) on the PostgreSQL database named. For each run, each contender
(``passerelle serve`` as it ran before, one process of 40 threads; with its defaults now,
2 threads; then ``--workers N`` of them; the order rotates) is started fresh and loaded
by wrk (Debian's package): ``GET /datasets`` and
``GET /portal/catalog`` by 32 connections, ``POST /projects/{id}/queries`` by 8, each
for ``--seconds``. Printed: requests/s, p50 and p99 (medians over the runs), errors
and timeouts (totals).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUERY = "SELECT postcode, count(*) AS n FROM pmsi_stays GROUP BY 1 ORDER BY 1"
_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fresh_database(server: str) -> tuple[str, str]:
    """A new empty database on the server of ``server``: (its URL, its name)."""
    import uuid

    from sqlalchemy import create_engine, text

    base = server.rpartition("/")[0]
    name = f"load_{uuid.uuid4().hex[:12]}"
    engine = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{base}/{name}", name


def _drop_database(server: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"{server.rpartition('/')[0]}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _build(folder: Path, database: str) -> tuple[Path, str, int]:
    """The demo's hub on ``database``; (its folder, rita's token, her project)."""
    from passerelle.demo.build import build_demo_hub

    demo = build_demo_hub(folder, database=database, persons=500, archive_objects=0)
    try:
        return folder / "hub", demo.tokens["rita"], demo.project
    finally:
        demo.hub.close()


def _serve(hub: Path, workers: int, threads: int, port: int) -> subprocess.Popen[bytes]:
    import httpx

    command = [sys.executable, "-m", "passerelle", "serve", "--hub", str(hub), "--port", str(port)]
    command += ["--workers", str(workers), "--threads", str(threads)]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            return proc
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("passerelle serve did not start") from None
            time.sleep(0.2)


def _session_cookie(base: str, token: str) -> str:
    import httpx

    with httpx.Client(base_url=base) as client:
        page = client.get("/signin")
        nonce = re.search(r'name="nonce" value="([^"]*)"', page.text)
        assert nonce
        client.post("/signin", data={"token": token, "nonce": nonce.group(1), "next": "/portal/"})
        return f"passerelle_session={client.cookies['passerelle_session']}"


def _wrk(
    url: str, connections: int, seconds: int, headers: list[str], script: Path | None
) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for header in headers:
        command += ["-H", header]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))

    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
        return float(value) * _UNIT[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": ms(latency["50"]),
        "p99": ms(latency["99"]),
        "errors": float(errors.group(1)) if errors else 0.0,
        "socket_errors": float(sum(map(int, socket_errors.groups()[:3]))) if socket_errors else 0.0,
        "timeouts": float(socket_errors.group(4)) if socket_errors else 0.0,
    }


def add_database_argument(parser: argparse.ArgumentParser) -> None:
    """``--database``: the PostgreSQL server a benchmark makes (and drops) its database on."""
    parser.add_argument(
        "--database",
        default=os.environ.get("PASSERELLE_TEST_POSTGRES_URL"),
        help="A PostgreSQL URL; the benchmark creates (and drops) its own database there.",
    )


def database_url(args: argparse.Namespace) -> str:
    """The ``--database`` given, or exit saying how to give one."""
    if not args.database:
        raise SystemExit("name a PostgreSQL database: --database URL (or start the servers)")
    return str(args.database)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_argument(parser)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="The contender's processes.")
    parser.add_argument("--threads", type=int, default=2, help="Its threads per process.")
    args = parser.parse_args()
    server = database_url(args)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    folder = Path(tempfile.mkdtemp(prefix="portal-load-"))
    database, database_name = _fresh_database(server)
    hub, token, project = _build(folder / "demo", database)
    script = folder / "query.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps({'sql': QUERY}))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    # (processes, threads each): uvicorn's and anyio's defaults as `serve` ran before
    # (one process, 40 threads), `serve`'s defaults now, and --workers on top of them.
    contenders = [(1, 40), (1, args.threads), (args.workers, args.threads)]
    results: dict[tuple[int, int, str], list[dict[str, float]]] = {}
    for run in range(args.runs):
        shift = run % len(contenders)
        order = contenders[shift:] + contenders[:shift]
        for workers, threads in order:
            port = _free_port()
            proc = _serve(hub, workers, threads, port)
            base = f"http://127.0.0.1:{port}"
            try:
                bearer = f"Authorization: Bearer {token}"
                cookie = f"Cookie: {_session_cookie(base, token)}"
                for name, url, connections, headers, lua in (
                    ("GET /datasets", f"{base}/datasets", 32, [bearer], None),
                    ("GET /portal/catalog", f"{base}/portal/catalog", 32, [cookie], None),
                    ("POST query", f"{base}/projects/{project}/queries", 8, [bearer], script),
                ):
                    measured = _wrk(url, connections, args.seconds, headers, lua)
                    results.setdefault((workers, threads, name), []).append(measured)
                    print(
                        f"run {run + 1} workers={workers} threads={threads} {name}: {measured}",
                        flush=True,
                    )
            finally:
                proc.terminate()
                proc.wait(timeout=60)
    print()
    print(
        "| scenario | processes | threads | clients | req/s | p50 ms | p99 ms | errors | timeouts |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for (workers, threads, name), runs in sorted(results.items(), key=lambda kv: kv[0][2]):
        med = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99")}
        bad = sum(r["errors"] + r["socket_errors"] for r in runs)
        late = sum(r["timeouts"] for r in runs)
        clients = 8 if name == "POST query" else 32
        print(
            f"| {name} | {workers} | {threads} | {clients} | {med['rps']:.0f} | {med['p50']:.0f} | "
            f"{med['p99']:.0f} | {bad:.0f} | {late:.0f} |"
        )
    shutil.rmtree(folder, ignore_errors=True)
    _drop_database(server, database_name)


if __name__ == "__main__":
    main()
