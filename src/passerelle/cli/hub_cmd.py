"""``passerelle hub migrate start|status|run|cutover|rollback|finish|decommission-check``:
move a live hub, then check the old store may be switched off."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from passerelle.cli.hub_context import HubOpt, JsonOpt, TokenOpt, emit, open_as

__all__ = ["register"]

hub_app = typer.Typer(
    help="The hub itself: its storage binding and live moves.", no_args_is_help=True
)
migrate = typer.Typer(
    help="Move the hub's data to another cloud while it keeps serving.", no_args_is_help=True
)


@migrate.command("start")
def _start(
    to: Annotated[str, typer.Option("--to", help="Destination store URL, e.g. s3://scaleway@hdh.")],
    require: Annotated[
        str,
        typer.Option(help="Comma-separated rules the destination must meet: hds,secnumcloud,eea."),
    ] = "",
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start mirroring every write to the destination and inventory the backlog."""
    from passerelle.live import start_move

    h, me = open_as(hub, token)
    rules = tuple(r.strip() for r in require.split(",") if r.strip())
    emit(start_move(h, me, to, require=rules), as_json)


@migrate.command("status")
def _status(hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """Phase, progress, throughput, ETA and writes owed to the destination."""
    from passerelle.live import move_status

    h, _ = open_as(hub, token)
    emit(move_status(h), as_json)


@migrate.command("run")
def _run(
    concurrency: Annotated[int, typer.Option(help="Objects copied at once.")] = 16,
    max_bandwidth: Annotated[
        str | None, typer.Option(help="Cap, e.g. 200MB/s, so researchers feel less of the move.")
    ] = None,
    max_requests_per_second: Annotated[
        float | None, typer.Option(help="Cap on requests per second to the destination.")
    ] = None,
    latency_target: Annotated[
        str,
        typer.Option(
            help="Researchers' query p95 the move yields to: 2x (of before the move), "
            "800ms, or off."
        ),
    ] = "2x",
    hub: HubOpt = None,
    token: TokenOpt = None,
) -> None:
    """Copy the backlog (safe to kill and re-run: it resumes); it slows down for research."""
    from passerelle.cli.render import console
    from passerelle.live import run_backlog
    from passerelle.migration import RunOptions, parse_rate
    from passerelle.migration.pacing import parse_latency_target

    target = parse_latency_target(latency_target)
    h, me = open_as(hub, token)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    options = RunOptions(
        concurrency=concurrency,
        max_bandwidth=parse_rate(max_bandwidth) if max_bandwidth else None,
        max_requests_per_second=max_requests_per_second,
    )
    summary = run_backlog(h, me, options, stop=stop, latency_target=target)
    console().print(
        f"copied {summary.copied} objects ({summary.bytes} bytes), {summary.remaining} remaining, "
        f"{len(summary.failed)} failed"
    )
    if not summary.complete:
        raise typer.Exit(1)


@migrate.command("cutover")
def _cutover(
    latency_target: Annotated[
        str,
        typer.Option(help="Researchers' query p95 the final sync and deep verify yield to."),
    ] = "2x",
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Final sync and deep verify, then switch reads to the destination."""
    from passerelle.live import cutover
    from passerelle.migration.pacing import parse_latency_target

    target = parse_latency_target(latency_target)
    h, me = open_as(hub, token)
    emit(cutover(h, me, target).as_details(), as_json)


@migrate.command("rollback")
def _rollback(hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """Return to the source (it holds every write made since the start)."""
    from passerelle.live import rollback

    h, me = open_as(hub, token)
    emit(rollback(h, me), as_json)


@migrate.command("finish")
def _finish(hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """Make the destination the hub's only store; the source stays read-only."""
    from passerelle.live import finish

    h, me = open_as(hub, token)
    emit(finish(h, me).as_details(), as_json)


@migrate.command("decommission-check")
def _decommission_check(
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            help="Write every key only the retired store holds to this file "
            "(one JSON string a line).",
        ),
    ] = None,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Exit 1 while the store a finished move retired still holds objects the hub's store
    lacks (the hub still reads them from there); exit 0 when it can be switched off."""
    from rich.markup import escape

    from passerelle.cli.render import error_console
    from passerelle.live.decommission import decommission_check

    h, me = open_as(hub, token)
    check = decommission_check(h, me, keys_out=keys)
    emit(check.as_details(), as_json)
    if not check.safe:
        error_console().print(f"[bold red]not safe[/]: {escape(check.problem())}", soft_wrap=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    hub_app.add_typer(migrate, name="migrate")
    app.add_typer(hub_app, name="hub")
