"""``passerelle query`` and ``passerelle queries``: SQL over a project's granted datasets."""

from __future__ import annotations

from typing import Annotated

import typer

from passerelle.cli.hub_context import HubOpt, JsonOpt, TokenOpt, emit, open_as

__all__ = ["register"]

queries = typer.Typer(help="Queries run in a project's workspace.", no_args_is_help=True)


def _query(
    sql: Annotated[str, typer.Argument(help="One SELECT over your project's granted datasets.")],
    project: Annotated[int, typer.Option("--project", "-p", help="Your project's id.")],
    max_rows: Annotated[
        int, typer.Option(help="Rows kept in the result (more are cut).")
    ] = 100_000,
    timeout: Annotated[float, typer.Option(help="Seconds before the query is stopped.")] = 60.0,
    show: Annotated[int, typer.Option(help="Rows printed (the whole result is kept).")] = 50,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run SQL in your project's sandbox; the result stays in the project's workspace."""
    from passerelle.cli.render import console, error_console
    from passerelle.research import QueryLimits
    from passerelle.workspace import run_query

    h, me = open_as(hub, token)
    view, table = run_query(h, me, project, sql, QueryLimits(max_rows=max_rows, timeout_s=timeout))
    if as_json:
        emit({"query": view, "rows": table.slice(0, show).to_pylist()}, True)
        return
    from rich.table import Table

    out = Table(*table.column_names)
    for row in table.slice(0, show).to_pylist():
        out.add_row(*("-" if v is None else str(v) for v in row.values()))
    console().print(out)
    cut = " (cut at --max-rows)" if view.truncated else ""
    error_console().print(
        f"query {view.id}: {view.rows} rows{cut} in {view.duration_s:.2f} s, "
        f"kept as {view.result_key}"
    )


@queries.command("list")
def _list(
    project: Annotated[int, typer.Option("--project", "-p", help="Project id.")],
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Queries run in a project."""
    from passerelle.workspace import list_queries

    h, me = open_as(hub, token)
    emit(
        list_queries(h, me, project),
        as_json,
        ["id", "user", "rows", "datasets", "created_at", "sql"],
    )


def register(app: typer.Typer) -> None:
    app.command("query")(_query)
    app.add_typer(queries, name="queries")
