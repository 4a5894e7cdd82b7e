"""Shared options of the hub commands: which hub, which token, how to print."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from passerelle.hub import Hub, Principal

__all__ = ["HubOpt", "JsonOpt", "TokenOpt", "emit", "open_as", "to_jsonable"]

HubOpt = Annotated[
    Path | None,
    typer.Option(
        "--hub", help="Hub folder (holds hub.toml); default $PASSERELLE_HUB or ./passerelle-hub."
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="PASSERELLE_TOKEN",
        show_envvar=True,
        help="Your API token (pst_...); prefer the PASSERELLE_TOKEN variable.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def open_as(hub_dir: Path | None, token: str | None) -> tuple[Hub, Principal]:
    """Open the hub and authenticate the caller's token."""
    from passerelle.hub import Hub, authenticate
    from passerelle.hub.schema_revision import require_current_schema

    hub = Hub.open(hub_dir)
    require_current_schema(hub)
    return hub, authenticate(hub, token)


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def emit(value: Any, as_json: bool, columns: list[str] | None = None) -> None:
    """Print a view (or a list/page of views) as JSON or as a Rich table. Values are
    shown as text, never read as Rich markup: a name like ``[/x]`` is someone's input."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from passerelle.cli.render import console

    data = to_jsonable(value)
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    if isinstance(data, dict) and "items" in data and "total" in data:
        rows, footer = data["items"], f"{len(data['items'])} of {data['total']}"
    elif isinstance(data, list):
        rows, footer = data, ""
    else:
        for key, item in data.items():
            console().print(f"[bold]{key:<24}[/] {escape(_cell(item))}")
        return
    names = columns or (list(rows[0]) if rows else [])
    table = Table(*names)
    for row in rows:
        table.add_row(*(Text(_cell(row.get(n))) for n in names))
    console().print(table)
    if footer:
        console().print(footer)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(
            _cell(v) if not isinstance(v, dict) else v.get("name", str(v)) for v in value
        )
    return str(value)
