"""``passerelle orgs|datasets|catalog``: supplying organizations, the dataset catalog,
its classifications and its DCAT-AP export, validation and partners' imports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from passerelle.cli.hub_context import HubOpt, JsonOpt, TokenOpt, emit, open_as

__all__ = ["load_schema_file", "register"]

orgs = typer.Typer(help="Organizations that supply data.", no_args_is_help=True)
datasets = typer.Typer(help="The dataset catalog.", no_args_is_help=True)
catalog = typer.Typer(
    help="Catalog governance: classifications; the DCAT-AP catalog and partners' catalogs.",
    no_args_is_help=True,
)


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


_COVERS = (
    "The period the data covers: START/END in dates (2019-01-01/2023-12-31), "
    "START/ if it goes on, or unknown."
)


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
    covers: Annotated[str, typer.Option(help=_COVERS)] = "unknown",
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a dataset in the catalog (stewards)."""
    from passerelle.hub import create_dataset
    from passerelle.hub.coverage import parse_coverage

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
            covers=parse_coverage(covers),
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
    covers: Annotated[str | None, typer.Option(help=_COVERS)] = None,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a catalog entry (stewards)."""
    from passerelle.hub import update_dataset
    from passerelle.hub.coverage import parse_coverage

    period = None if covers is None else parse_coverage(covers)
    h, me = open_as(hub, token)
    emit(
        update_dataset(
            h,
            me,
            name,
            description=description,
            discoverable=discoverable,
            locations=location,
            covers=period,
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


@catalog.command("export")
def _export(
    data_format: Annotated[
        str, typer.Option("--format", help="jsonld (JSON-LD, inline context) or turtle.")
    ] = "jsonld",
    public: Annotated[
        bool, typer.Option("--public", help="The public view (no token needed).")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
    hub: HubOpt = None,
    token: TokenOpt = None,
) -> None:
    """The hub's catalog in DCAT-AP 3 / HealthDCAT-AP: what you may see, or --public."""
    from passerelle.hub import Hub
    from passerelle.hub.catalog_export import export_catalog
    from passerelle.hub.schema_revision import require_current_schema

    if data_format not in ("jsonld", "turtle"):
        raise typer.BadParameter("use jsonld or turtle", param_hint="--format")
    if public and token is None:
        h = Hub.open(hub)
        require_current_schema(h)
        text = export_catalog(h, None, data_format)  # type: ignore[arg-type]
    else:
        h, me = open_as(hub, token)
        text = export_catalog(h, me, data_format, public=public)  # type: ignore[arg-type]
    _write(text, output)


def _write(text: str, output: Path | None) -> None:
    from passerelle.errors import UsageError

    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None


def _read_catalog_file(path: Path) -> bytes:
    """At most one byte more than an import allows (the reader names the limit)."""
    from passerelle.errors import UsageError
    from passerelle.hub.dcat_import import MAX_BYTES

    try:
        with path.open("rb") as f:
            return f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read the catalog file {path}: {exc.strerror}") from None


@catalog.command("validate")
def _validate(
    file: Annotated[Path, typer.Argument(help="A DCAT-AP catalog (JSON-LD, Turtle or RDF/XML).")],
    as_json: JsonOpt = False,
) -> None:
    """Check a catalog file against the DCAT-AP 3.0.1 SHACL shapes; exit 1 on a violation."""
    from passerelle.cli.render import console
    from passerelle.hub.dcat_import import parse_graph
    from passerelle.hub.dcat_validation import validate_graph

    report = validate_graph(parse_graph(_read_catalog_file(file)))
    if as_json:
        emit(report, True)
    else:
        for finding in [*report.violations, *report.warnings]:
            console().print(
                f"{finding.severity:<9} {finding.shapes}: {finding.path} of {finding.focus}",
                markup=False,
            )
        verdict = "conforms" if report.conforms else "does not conform"
        console().print(
            f"{file.name} {verdict} to DCAT-AP 3.0.1: {len(report.violations)} violations, "
            f"{len(report.warnings)} warnings",
            markup=False,
        )
    if not report.conforms:
        raise typer.Exit(1)


@catalog.command("import")
def _import(
    file: Annotated[Path, typer.Argument(help="A partner hub's catalog export.")],
    source: Annotated[
        str, typer.Option(help="Your name for the partner (its earlier import is replaced).")
    ],
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a partner hub's DCAT-AP catalog as read-only remote datasets (stewards)."""
    from dataclasses import asdict

    from rich.text import Text

    from passerelle.cli.render import console
    from passerelle.hub.remote_catalog import import_catalog

    data = _read_catalog_file(file)
    h, me = open_as(hub, token)
    done = import_catalog(h, me, data, source=source)
    if as_json:
        emit(done, as_json)
        return
    emit({**asdict(done), "skipped": len(done.skipped)}, as_json)
    for member in done.skipped:
        console().print(Text(f"left out {member.member}: {member.reason}"))


@catalog.command("remote")
def _remote(
    search: Annotated[str | None, typer.Option(help="Keep entries holding this text.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this partner's entries.")] = None,
    limit: int = 100,
    offset: int = 0,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the partners' datasets imported here (found here, requested from the partner)."""
    from passerelle.hub.remote_catalog import list_remote_datasets

    h, me = open_as(hub, token)
    found = list_remote_datasets(h, me, search=search, source=source, limit=limit, offset=offset)
    emit(found, as_json, ["source", "title", "publisher", "identifier", "iri"])


@catalog.command("forget")
def _forget(
    source: Annotated[str, typer.Argument(help="The partner's name given at import.")],
    hub: HubOpt = None,
    token: TokenOpt = None,
) -> None:
    """Remove every remote dataset a partner's import gave (stewards)."""
    from passerelle.hub.remote_catalog import forget_source

    h, me = open_as(hub, token)
    removed = forget_source(h, me, source)
    typer.echo(f"removed {removed} remote datasets of {source}")


def register(app: typer.Typer) -> None:
    app.add_typer(orgs, name="orgs")
    app.add_typer(datasets, name="datasets")
    app.add_typer(catalog, name="catalog")
