"""``passerelle audit verify|export|checkpoint``: the tamper-evident trail."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from passerelle.cli.hub_context import HubOpt, TokenOpt, open_as

__all__ = ["register"]

audit = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
WhenOpt = Annotated[
    datetime | None,
    typer.Option(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"], help="UTC date or time."),
]


@audit.command("verify")
def _verify(hub: HubOpt = None, token: TokenOpt = None) -> None:
    """Check every event's hash and link and the signed checkpoints; exit 1 naming the first bad."""
    from passerelle.cli.render import console, error_console
    from passerelle.hub.audit import verify_audit

    h, me = open_as(hub, token)
    report = verify_audit(h, me)
    if report.ok:
        console().print(
            f"audit log verified: {report.chain.events} events, head {report.chain.head_seq} "
            f"({report.chain.head_hash[:16]}...), {report.checkpoints} checkpoints agree"
        )
        return
    error_console().print(
        f"[bold red]audit log tampered:[/] first bad event {report.first_bad_seq}: "
        f"{report.problem}",
        soft_wrap=True,
    )
    raise typer.Exit(1)


@audit.command("export")
def _export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option(help="File to write (default: standard output).")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Only this user's actions.")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Only events about this dataset (name or id).")
    ] = None,
    project: Annotated[int | None, typer.Option(help="Only events about this project.")] = None,
    since: WhenOpt = None,
    until: WhenOpt = None,
    hub: HubOpt = None,
    token: TokenOpt = None,
) -> None:
    """Write the audit events (filtered) as JSON lines or CSV for auditors."""
    from passerelle.cli.render import error_console
    from passerelle.hub.audit import AuditFilter, export_events, resolve_dataset_id

    h, me = open_as(hub, token)
    flt = AuditFilter(
        actor=actor,
        dataset=resolve_dataset_id(h, dataset),
        project=project,
        since=_utc(since),
        until=_utc(until),
    )
    if output is None:
        count = export_events(h, me, flt, sys.stdout, fmt)
    else:
        tmp = output.with_name(output.name + ".partial")
        with tmp.open("w", newline="") as handle:
            count = export_events(h, me, flt, handle, fmt)
        tmp.replace(output)
    error_console().print(f"{count} events exported")


@audit.command("checkpoint")
def _checkpoint(hub: HubOpt = None, token: TokenOpt = None) -> None:
    """Sign the chain's head now and keep it in the checkpoint store."""
    from passerelle.cli.render import console
    from passerelle.hub.audit import authorize_audit_read, write_checkpoint

    h, me = open_as(hub, token)
    authorize_audit_read(h, me, {"checkpoint": True})
    cp = write_checkpoint(h)
    console().print(f"checkpoint at event {cp.seq}" if cp else "no events yet")


def _utc(value: datetime | None) -> datetime | None:
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value else None


def register(app: typer.Typer) -> None:
    app.add_typer(audit, name="audit")
