"""``passerelle serve``: run the hub's HTTP API (FastAPI on uvicorn) with OpenAPI docs."""

from __future__ import annotations

from typing import Annotated

import typer

from passerelle.cli.hub_context import HubOpt

__all__ = ["register"]


def _serve(
    hub: HubOpt = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; keep 127.0.0.1 behind a TLS proxy.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8700,
) -> None:
    """Serve the HTTP API of a hub (bearer tokens; docs at /docs, schema at /openapi.json)."""
    import uvicorn

    from passerelle.api import create_app
    from passerelle.cli.render import console, error_console
    from passerelle.hub import Hub
    from passerelle.hub.schema_revision import require_current_schema

    opened = Hub.open(hub)
    require_current_schema(opened)
    if host not in ("127.0.0.1", "localhost", "::1"):
        error_console().print(
            f"[yellow]warning:[/] listening on {host} without TLS: put a TLS-terminating "
            "proxy in front, bearer tokens must not cross a network in clear"
        )
    console().print(
        f"serving hub [bold]{opened.config.name}[/] ({opened.db.dialect}) on "
        f"http://{host}:{port} (docs at /docs, press Ctrl+C to stop)"
    )
    try:
        uvicorn.run(create_app(opened), host=host, port=port, log_level="info")
    finally:
        opened.close()


def register(app: typer.Typer) -> None:
    app.command("serve")(_serve)
