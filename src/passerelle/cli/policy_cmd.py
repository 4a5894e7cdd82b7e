"""``passerelle policy check|show``: every dataset against the hub's placement policy."""

from __future__ import annotations

from typing import Annotated

import typer

from passerelle.cli.hub_context import HubOpt, JsonOpt, TokenOpt, emit, open_as

__all__ = ["register"]

policy = typer.Typer(help="Where each classification of data may live.", no_args_is_help=True)


@policy.command("show")
def _show(hub: HubOpt = None, as_json: JsonOpt = False) -> None:
    """Print the hub's placement policy (hub.toml [policy.*]) and what it encrypts."""
    from passerelle.hub import Hub
    from passerelle.sovereignty.policy import CLASSIFICATIONS

    h = Hub.open(hub)
    rows = []
    for classification in CLASSIFICATIONS:
        rule = h.config.policy.rule(classification)
        rows.append(
            {
                "classification": classification,
                "require": ", ".join(rule.require) or "none",
                "ciphertext_elsewhere": rule.ciphertext_elsewhere,
                "encrypted": classification in h.config.encrypt,
            }
        )
    h.close()
    emit(rows, as_json)


@policy.command("check")
def _check(
    sample: Annotated[
        int, typer.Option(min=1, help="Raw objects read per dataset to prove ciphertext.")
    ] = 5,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check every dataset where it lives now; exit 3 on any violation."""
    from passerelle.cli.render import console
    from passerelle.hub.placement import policy_check

    h, me = open_as(hub, token)
    report = policy_check(h, me, sample=sample)
    h.close()
    if as_json:
        emit(report, True)
    else:
        c = console()
        emit(
            [
                {
                    "dataset": r.dataset,
                    "classification": r.classification,
                    "where": f"{r.provider or '?'} ({r.region or 'region ?'})",
                    "encrypted": r.encrypted,
                    "sampled": r.sampled,
                    "result": "ok" if r.allowed else r.rule,
                }
                for r in report.rows
            ],
            False,
        )
        for r in report.violations:
            c.print(f"[red]violation[/] {r.message}", soft_wrap=True)
        if not report.violations:
            c.print(f"policy {report.policy}: {len(report.rows)} placements, no violation")
    if report.violations:
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    app.add_typer(policy, name="policy")
