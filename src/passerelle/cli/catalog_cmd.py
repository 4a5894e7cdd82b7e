"""``passerelle orgs|datasets``: supplying organizations and the dataset catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from passerelle.cli.hub_context import HubOpt, JsonOpt, TokenOpt, emit, open_as

__all__ = ["load_schema_file", "register"]

orgs = typer.Typer(help="Organizations that supply data.", no_args_is_help=True)
datasets = typer.Typer(help="The dataset catalog.", no_args_is_help=True)
catalog = typer.Typer(help="Catalog governance: datasets' classifications.", no_args_is_help=True)


@orgs.command("add")
def _org_add(
    code: Annotated[str, typer.Argument(help="Identifier, e.g. a FINESS or SIREN number.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    kind: Annotated[str, typer.Option(help="hospital, insurer, registry or research-institute.")],
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register an organization (stewards)."""
    from passerelle.hub import create_organization

    h, me = open_as(hub, token)
    emit(create_organization(h, me, code, name, kind), as_json)


@orgs.command("list")
def _org_list(
    limit: int = 100,
    offset: int = 0,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List organizations."""
    from passerelle.hub import list_organizations

    h, me = open_as(hub, token)
    emit(list_organizations(h, me, limit=limit, offset=offset), as_json)


def load_schema_file(path: Path) -> list[dict[str, Any]]:
    """Columns from a JSON list or a TOML file with ``[[columns]]`` tables."""
    import json
    import tomllib

    from passerelle.errors import UsageError

    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read the schema file {path}: {exc.strerror}") from None
    try:
        data: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"the schema file {path} is not valid: {exc}") from None
    columns = data.get("columns") if isinstance(data, dict) else data
    if not isinstance(columns, list) or not all(isinstance(c, dict) for c in columns):
        raise UsageError(f"{path} must hold a list of columns with a name and a type")
    return columns


@datasets.command("add")
def _ds_add(
    name: Annotated[str, typer.Argument(help="Dataset name (a SQL table name), e.g. pmsi_stays.")],
    org: Annotated[str, typer.Option("--org", help="Supplying organization's code.")],
    classification: Annotated[
        str, typer.Option(help="health-identifying, health-pseudonymized, aggregate or open.")
    ],
    description: Annotated[str, typer.Option(help="What the dataset holds.")] = "",
    schema: Annotated[
        Path | None, typer.Option(help="Columns as JSON or TOML ([[columns]]).")
    ] = None,
    data_format: Annotated[str, typer.Option("--format", help="Storage format.")] = "parquet",
    discoverable: Annotated[
        bool, typer.Option(help="Listed to researchers in the catalog.")
    ] = True,
    location: Annotated[
        list[str] | None, typer.Option(help="Store URL holding it (repeatable).")
    ] = None,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a dataset in the catalog (stewards)."""
    from passerelle.hub import create_dataset

    columns = load_schema_file(schema) if schema else []
    h, me = open_as(hub, token)
    emit(
        create_dataset(
            h,
            me,
            name=name,
            organization=org,
            classification=classification,
            description=description,
            schema=columns,
            format=data_format,
            discoverable=discoverable,
            locations=location or [],
        ),
        as_json,
    )


@datasets.command("list")
def _ds_list(
    limit: int = 100,
    offset: int = 0,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the catalog entries you may see."""
    from passerelle.hub import list_datasets

    h, me = open_as(hub, token)
    emit(
        list_datasets(h, me, limit=limit, offset=offset),
        as_json,
        [
            "id",
            "name",
            "organization",
            "classification",
            "row_count",
            "current_version",
            "discoverable",
        ],
    )


@datasets.command("show")
def _ds_show(
    name: str, hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Show one catalog entry."""
    from passerelle.hub import get_dataset

    h, me = open_as(hub, token)
    emit(get_dataset(h, me, name), as_json)


@datasets.command("versions")
def _ds_versions(
    name: str, hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """A dataset's version history with content digests."""
    from passerelle.hub import list_versions

    h, me = open_as(hub, token)
    emit(
        list_versions(h, me, name),
        as_json,
        ["version", "digest", "row_count", "created_by", "created_at"],
    )


@datasets.command("update")
def _ds_update(
    name: str,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    discoverable: Annotated[bool | None, typer.Option(help="Listed to researchers or not.")] = None,
    location: Annotated[
        list[str] | None, typer.Option(help="Replace the locations (repeatable).")
    ] = None,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a catalog entry (stewards)."""
    from passerelle.hub import update_dataset

    h, me = open_as(hub, token)
    emit(
        update_dataset(
            h, me, name, description=description, discoverable=discoverable, locations=location
        ),
        as_json,
    )


@catalog.command("classify")
def _classify(
    name: Annotated[str, typer.Argument(help="The dataset's name.")],
    classification: Annotated[
        str,
        typer.Argument(
            help="health-identifying, health-pseudonymized, health-aggregate or reference."
        ),
    ],
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a dataset's classification (stewards); the placement policy is checked again."""
    from passerelle.hub.catalog import classify_dataset

    h, me = open_as(hub, token)
    emit(classify_dataset(h, me, name, classification), as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(orgs, name="orgs")
    app.add_typer(datasets, name="datasets")
    app.add_typer(catalog, name="catalog")
