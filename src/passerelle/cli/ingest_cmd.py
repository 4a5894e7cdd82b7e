"""``passerelle ingest`` and ``passerelle extract``: data into the hub, and project copies."""

from __future__ import annotations

from typing import Annotated

import typer

from passerelle.cli.hub_context import HubOpt, JsonOpt, TokenOpt, emit, open_as

__all__ = ["register"]


def _ingest(
    source_url: Annotated[
        str, typer.Argument(help="The extract: a file URL, or a folder for FHIR.")
    ],
    org: Annotated[str, typer.Option("--org", help="Supplying organization's code.")],
    dataset: Annotated[str, typer.Option(help="Catalog name (FHIR tables get _patient, ...).")],
    schema: Annotated[
        str,
        typer.Option(
            help="Schema file (.toml) or shipped name: pmsi_stays, dcir_claims, fhir_bulk."
        ),
    ],
    kind: Annotated[
        str | None, typer.Option(help="csv, parquet or fhir-ndjson (checked against the schema).")
    ] = None,
    classification: Annotated[
        str | None,
        typer.Option(
            help="Catalog classification; never below what the schema's columns require "
            "(default health-pseudonymized, or stricter when the schema needs it)."
        ),
    ] = None,
    description: Annotated[str, typer.Option(help="Catalog description.")] = "",
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate, pseudonymize and register an extract (stewards); bad rows are quarantined."""
    from passerelle.cli.render import console
    from passerelle.hub.ingestion import ingest_dataset

    h, me = open_as(hub, token)
    report = ingest_dataset(
        h,
        me,
        dataset=dataset,
        organization=org,
        source_url=source_url,
        schema=schema,
        kind=kind,
        classification=classification,
        description=description,
    )
    if as_json:
        emit(report, True)
        return
    c = console()
    again = " (already ingested: nothing rewritten)" if report.reused else ""
    c.print(f"version {report.version}{again}")
    c.print(
        f"rows in {report.rows_in:,} = accepted {report.rows_accepted:,} + "
        f"quarantined {report.rows_quarantined:,}"
    )
    for reason, count in report.reasons:
        c.print(f"  quarantined: {count:,} x {reason}")
    for name, version in report.datasets:
        c.print(f"catalog: {name} v{version}")


def _extract(
    project: Annotated[int, typer.Option("--project", "-p", help="The project.")],
    dataset: Annotated[str, typer.Option(help="The dataset to copy for it.")],
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a project's own copy of a dataset with pseudonyms re-keyed for that project."""
    from passerelle.hub.ingestion import extract_dataset

    h, me = open_as(hub, token)
    emit(extract_dataset(h, me, project, dataset), as_json)


def register(app: typer.Typer) -> None:
    app.command("ingest")(_ingest)
    app.command("extract")(_extract)
