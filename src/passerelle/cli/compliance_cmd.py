"""``passerelle compliance report``: the auditor's report, as JSON or printable HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from passerelle.cli.hub_context import HubOpt, TokenOpt

__all__ = ["register"]

compliance = typer.Typer(help="Evidence for auditors: the compliance report.", no_args_is_help=True)


@compliance.command("report")
def _report(
    dataset: Annotated[str | None, typer.Option(help="Only this dataset (its name).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json or html.")] = "json",
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of standard output.")
    ] = None,
    hub: HubOpt = None,
    token: TokenOpt = None,
) -> None:
    """Per dataset: classification, stores and their jurisdiction, policy results,
    encryption, last migration certificate, access summary (auditors and admins; audited)."""
    from passerelle.cli.hub_context import open_as
    from passerelle.errors import UsageError
    from passerelle.hub.compliance import compliance_report, render_html, render_json

    if fmt not in ("json", "html"):
        raise UsageError(f"Unknown report format {fmt!r}; use json or html.")
    if output is not None and not output.parent.is_dir():
        raise UsageError(f"The folder {output.parent} does not exist; create it first.")
    if output is not None and output.is_dir():
        raise UsageError(
            f"{output} is a folder; give a file name inside it, such as {output}/report.{fmt}."
        )
    h, me = open_as(hub, token)
    report = compliance_report(h, me, dataset)
    text = render_json(report) if fmt == "json" else render_html(report)
    if output is None:
        typer.echo(text, nl=False)
        return
    tmp = output.with_name(output.name + ".partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"Cannot write {output} ({exc.strerror}); choose another file.") from None
    typer.echo(
        f"compliance report ({fmt}, {len(report['datasets'])} datasets) in {output}", err=True
    )


def register(app: typer.Typer) -> None:
    app.add_typer(compliance, name="compliance")
