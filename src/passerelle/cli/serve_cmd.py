"""``passerelle serve``: run the hub's HTTP API and web portal (FastAPI on uvicorn)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from passerelle.cli.hub_context import HubOpt

__all__ = ["register"]


def _serve(
    hub: HubOpt = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; keep 127.0.0.1 behind a TLS proxy.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8700,
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            help="Comma-separated addresses of the reverse proxies whose X-Forwarded-For "
            "is believed (the failed-login limit counts per client address); none by default."
        ),
    ] = "",
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Processes answering requests (about one per core; PostgreSQL is the "
            "database for several).",
        ),
    ] = 1,
    threads: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Requests each process works on at once (more threads are slower in Python; "
            "see docs/benchmarks.md).",
        ),
    ] = 2,
    query_threads: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="Researchers' queries each process runs at once (a pool apart)."
        ),
    ] = 4,
    long_threads: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Long calls each process runs at once (ingests, extracts, audit verify and "
            "export, the move's steps), a pool apart.",
        ),
    ] = 4,
) -> None:
    """Serve a hub's web portal (at /) and HTTP API (docs at /docs, schema at /openapi.json)."""
    import uvicorn

    from passerelle.api import create_app
    from passerelle.api.threads import ThreadLimits
    from passerelle.cli.render import console, error_console
    from passerelle.hub import Hub
    from passerelle.hub.schema_revision import require_current_schema

    opened = Hub.open(hub)
    require_current_schema(opened)
    several = workers > 1
    if several:  # a socket per process, so connections spread over them (api/processes.py)
        from passerelle.api.processes import listening_sockets

        sockets = listening_sockets(host, port, workers)
    if host not in ("127.0.0.1", "localhost", "::1"):
        error_console().print(
            f"[yellow]warning:[/] listening on {host} without TLS: put a TLS-terminating "
            "proxy in front, bearer tokens must not cross a network in clear"
        )
    processes = f", {workers} processes" if workers > 1 else ""
    console().print(
        f"serving hub [bold]{opened.config.name}[/] ({opened.db.dialect}{processes}) on "
        f"http://{host}:{port} (portal at /, API docs at /docs; press Ctrl+C to stop)"
    )
    trusted = _trusted_proxies(forwarded_allow_ips)
    if several:  # each process opens the hub itself (passerelle.api.workers)
        import os

        from passerelle.api.workers import HUB_VARIABLE, THREADS_VARIABLE

        os.environ[HUB_VARIABLE] = str(opened.config.directory)
        os.environ[THREADS_VARIABLE] = f"{threads},{query_threads},{long_threads}"
        opened.close()
    app: Any = "passerelle.api.workers:worker_app"  # each process builds its own
    try:
        if not several:
            from passerelle.api.heap import settle_now_and_after_warm_up

            app = create_app(opened, threads=ThreadLimits(threads, query_threads, long_threads))
            settle_now_and_after_warm_up()  # short full collections in a long-running server
        settings: dict[str, Any] = {
            "host": host,
            "port": port,
            "log_level": "info",
            "proxy_headers": bool(trusted),  # uvicorn's default believes any local client
            "forwarded_allow_ips": trusted or None,
        }
        if not several:
            uvicorn.run(app, **settings)
        else:
            from passerelle.api.processes import SocketPerProcess

            config = uvicorn.Config(app, factory=True, workers=workers, **settings)
            SocketPerProcess(config, sockets).run()
    finally:
        if not several:
            opened.close()


def _trusted_proxies(forwarded_allow_ips: str) -> list[str]:
    """The proxies whose forwarded headers are believed (none: the peer is the client).

    uvicorn's own default believes ``X-Forwarded-For`` from any client on 127.0.0.1,
    so anyone on the hub's machine could name a new address on every failed token
    and never be throttled; with no proxy named, the connection's peer is the address.
    """
    return [a.strip() for a in forwarded_allow_ips.split(",") if a.strip()]


def register(app: typer.Typer) -> None:
    app.command("serve")(_serve)
