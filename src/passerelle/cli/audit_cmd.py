"""``passerelle audit verify|export|checkpoint|head``: the tamper-evident trail."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from passerelle.cli.hub_context import HubOpt, TokenOpt, open_as

if TYPE_CHECKING:
    from passerelle.hub.checkpoint_chain import Checkpoint

__all__ = ["register"]

audit = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
WhenOpt = Annotated[
    datetime | None,
    typer.Option(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"], help="UTC date or time."),
]


@audit.command("verify")
def _verify(
    head: Annotated[
        list[Path] | None,
        typer.Option(
            "--head",
            help="A signed head kept elsewhere (the JSON of `passerelle audit head`); repeatable.",
        ),
    ] = None,
    witness: Annotated[
        str | None,
        typer.Option(
            "--witness",
            help="The witness you know (s3://bucket/prefix or file:///folder), used instead "
            "of hub.toml's, which whoever holds the hub folder can edit.",
        ),
    ] = None,
    hub: HubOpt = None,
    token: TokenOpt = None,
) -> None:
    """Check every event, the numbered checkpoints and the witness; exit 1 naming what is wrong."""
    from passerelle.cli.render import console, error_console
    from passerelle.hub.audit import verify_audit

    kept = [_read_head(path) for path in head or []]
    h, me = open_as(hub, token)
    report = verify_audit(h, me, kept, witness_url=witness)
    if report.ok:
        console().print(
            f"audit log verified: {report.chain.events} events, head {report.chain.head_seq} "
            f"({report.chain.head_hash[:16]}...), {report.checkpoints} checkpoints agree",
            soft_wrap=True,
        )
        if report.witness:
            console().print(f"witness: {report.witnessed} checkpoints in {report.witness}")
        else:
            error_console().print(
                "warning: no witness is configured (hub.toml `witness`), so a database and "
                "checkpoint store rolled back together cannot be told from the real ones",
                soft_wrap=True,
            )
        return
    where = f" (first bad event {report.first_bad_seq})" if report.first_bad_seq else ""
    error_console().print(
        f"[bold red]audit log tampered[/]{where}: {escape(report.problem)}", soft_wrap=True
    )
    raise typer.Exit(1)


def _read_head(path: Path) -> Checkpoint:
    import json

    from passerelle.errors import UsageError
    from passerelle.hub.checkpoint_chain import Checkpoint

    try:
        data = json.loads(path.read_text())
        inner = data.get("checkpoint", data) if isinstance(data, dict) else data
        return Checkpoint.from_json(json.dumps(inner))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}; check the path") from None
    except ValueError:
        raise UsageError(
            f"{path} is not a signed head; give the JSON printed by `passerelle audit head`"
        ) from None


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
    """Sign the chain's head now, keep it and witness it (refused over a tampered log)."""
    from passerelle.cli.render import console
    from passerelle.hub.audit import authorize_audit_read, write_checkpoint

    h, me = open_as(hub, token)
    authorize_audit_read(h, me, {"checkpoint": True})
    cp = write_checkpoint(h)
    console().print(f"checkpoint {cp.number} at event {cp.seq}" if cp else "no events yet")


@audit.command("head")
def _head(hub: HubOpt = None) -> None:
    """Print the newest signed checkpoint and its public key as JSON, for others to keep."""
    import json

    from passerelle.hub import Hub
    from passerelle.hub.checkpoints import signed_head

    h = Hub.open(hub)
    typer.echo(json.dumps(signed_head(h).to_dict(), sort_keys=True))


def _utc(value: datetime | None) -> datetime | None:
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value else None


def register(app: typer.Typer) -> None:
    app.add_typer(audit, name="audit")
