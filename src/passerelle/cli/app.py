"""Assemble the Typer application from the command modules."""

from __future__ import annotations

import typer

__all__ = ["build_app"]


def build_app() -> typer.Typer:
    from passerelle.cli import (
        accounts_cmd,
        audit_cmd,
        catalog_cmd,
        demo_cmd,
        hub_cmd,
        ingest_cmd,
        init_cmd,
        keys_cmd,
        migrate_cmd,
        policy_cmd,
        projects_cmd,
        providers_cmd,
        replica_cmd,
        research_cmd,
        serve_cmd,
        storage_cmd,
        synth_cmd,
        upgrade_cmd,
    )

    app = typer.Typer(
        name="passerelle",
        help="Run a health-data research hub on any cloud, and move it live between clouds.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode="rich",
    )
    storage_cmd.register(app)
    migrate_cmd.register(app)
    providers_cmd.register(app)
    demo_cmd.register(app)
    init_cmd.register(app)
    catalog_cmd.register(app)
    projects_cmd.register(app)
    accounts_cmd.register(app)
    audit_cmd.register(app)
    hub_cmd.register(app)
    replica_cmd.register(app)
    research_cmd.register(app)
    ingest_cmd.register(app)
    serve_cmd.register(app)
    synth_cmd.register(app)
    upgrade_cmd.register(app)
    keys_cmd.register(app)
    policy_cmd.register(app)
    from passerelle.cli import compliance_cmd  # `compliance report`

    compliance_cmd.register(app)
    return app
