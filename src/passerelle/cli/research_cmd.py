"""``passerelle query`` and ``passerelle queries``: SQL over a project's granted datasets."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from passerelle.cli.hub_context import HubOpt, JsonOpt, TokenOpt, emit, open_as

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

__all__ = ["register"]

queries = typer.Typer(help="Queries run in a project's workspace.", no_args_is_help=True)


def _query(
    sql: Annotated[str, typer.Argument(help="One SELECT over your project's granted datasets.")],
    project: Annotated[int, typer.Option("--project", "-p", help="Your project's id.")],
    max_rows: Annotated[
        int | None,
        typer.Option(help="Rows kept in the result (more are cut); default: the hub's cap."),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Seconds before the query is killed; default: the hub's cap."),
    ] = None,
    memory_mb: Annotated[
        int | None,
        typer.Option(help="Memory of the query in MB (the OS refuses more); default: the cap."),
    ] = None,
    show: Annotated[int, typer.Option(help="Rows printed (the whole result is kept).")] = 50,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run SQL in your project's sandbox; the result stays in the project's workspace."""
    from passerelle.cli.render import error_console
    from passerelle.research.caps import LimitRequest
    from passerelle.workspace import run_query

    h, me = open_as(hub, token)
    asked = LimitRequest(max_rows=max_rows, timeout_s=timeout, memory_mb=memory_mb)
    view, table = run_query(h, me, project, sql, asked)
    if as_json:
        emit({"query": view, "rows": _json_rows(table.slice(0, show))}, True)
        return
    _print_rows(table.slice(0, show))
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


def _json_rows(table: pa.Table) -> list[dict[str, object]]:
    """Rows as objects of exact JSON cells (big numbers and decimals as strings)."""
    from passerelle.research.rendering import json_cells

    columns = [json_cells(c) for c in table.columns]
    names = list(table.column_names)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _print_rows(table: pa.Table) -> None:
    from rich.markup import escape
    from rich.table import Table

    from passerelle.cli.render import console
    from passerelle.research.rendering import json_cells, text_cell

    names = list(table.column_names)
    out = Table(*(escape(n) for n in names))
    columns = [json_cells(c) for c in table.columns]
    for row in zip(*columns, strict=True):
        out.add_row(*(escape(text_cell(v)) for v in row))
    console().print(out)


@queries.command("result")
def _result(
    query: Annotated[int, typer.Argument(help="The query whose stored result to read.")],
    format: Annotated[
        str, typer.Option("--format", "-f", help="table, json, csv or parquet.")
    ] = "table",
    out: Annotated[
        str | None, typer.Option("--out", "-o", help="Write to this file (needed for parquet).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows shown as table or json.", min=0)] = 50,
    offset: Annotated[int, typer.Option(help="First row shown as table or json.", min=0)] = 0,
    hub: HubOpt = None,
    token: TokenOpt = None,
) -> None:
    """A query's stored result (your project's, while it is active and the result is kept)."""
    import json
    from pathlib import Path

    from passerelle.errors import UsageError
    from passerelle.research.rendering import csv_text
    from passerelle.research.results import result_parquet
    from passerelle.workspace import read_result

    if format not in ("table", "json", "csv", "parquet"):
        raise UsageError(f"unknown format {format!r}: use table, json, csv or parquet")
    if format == "parquet" and out is None:
        raise UsageError("--format parquet writes a binary file: give --out FILE")
    h, me = open_as(hub, token)
    table = read_result(h, me, query)
    if format == "parquet":
        assert out is not None
        Path(out).write_bytes(result_parquet(table))
        return
    if format == "csv":
        text = csv_text(table)
    elif format == "json":
        text = json.dumps(_json_rows(table.slice(offset, limit)), ensure_ascii=False, indent=2)
        text += "\n"
    else:
        _print_rows(table.slice(offset, limit))
        return
    if out is None:
        typer.echo(text, nl=False)
    else:
        Path(out).write_text(text, encoding="utf-8")


@queries.command("purge")
def _purge(hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """Delete results past the hub's retention (records kept, marked purged) and orphans."""
    from passerelle.workspace import purge_results

    h, me = open_as(hub, token)
    emit(purge_results(h, me), as_json, None)


releases = typer.Typer(
    help="Outputs asked to leave the hub, and their checks.", no_args_is_help=True
)


def _release(
    project: Annotated[int, typer.Option("--project", "-p", help="Your project's id.")],
    query: Annotated[
        int | None, typer.Option("--query", "-q", help="The query whose result to release.")
    ] = None,
    table: Annotated[
        str | None,
        typer.Option(help="Or: a granted dataset the hub tabulates itself by the --group columns."),
    ] = None,
    value: Annotated[
        str | None, typer.Option(help="With --table: the numeric column to summarise.")
    ] = None,
    stat: Annotated[
        list[str] | None, typer.Option(help="With --value: sum, mean or count (repeatable).")
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option(help="A group column (repeatable); read only when the hub cannot derive."),
    ] = None,
    statistic: Annotated[
        list[str] | None,
        typer.Option(help="A statistic column (repeatable); read only when the hub cannot derive."),
    ] = None,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask to release a query result (or a table the hub computes): disclosure control now,
    an output-checker if flagged.

    The hub re-derives the cells, their persons and contributions itself; the
    disclosure policy is the project's, set by a steward (``projects policy``)."""
    from passerelle.cli.render import console
    from passerelle.errors import UsageError
    from passerelle.workspace import get_query, request_release, request_table_release

    if (query is None) == (table is None):
        raise UsageError("give either --query ID or --table DATASET (with --group columns)")
    h, me = open_as(hub, token)
    if table is not None:
        if not group:
            raise UsageError("--table needs at least one --group column")
        view = request_table_release(
            h,
            me,
            project,
            table,
            group,
            value=value,
            statistics=tuple(stat or ["mean"]),
        )
    else:
        assert query is not None
        if get_query(h, me, query).project_id != project:
            raise UsageError(f"query {query} does not belong to project {project}")
        view = request_release(h, me, query, groups=group, statistics=statistic)
    if as_json:
        emit(view, True)
        return
    _print_release(view)
    console().print(
        {
            "released": f"released as {view.output_key}",
            "pending": "flagged: an output-checker who is not you must approve it",
            "rejected": "refused: this result can never leave the hub",
        }[view.status]
    )


def _print_release(view: object) -> None:
    from rich.table import Table

    from passerelle.cli.render import console

    report = getattr(view, "report")  # noqa: B009
    console().print(
        f"release {getattr(view, 'id')}: [bold]{getattr(view, 'status')}[/] "  # noqa: B009
        f"(policy {report.get('policy')}, {report.get('suppressed_cells', 0)} cells suppressed)"
    )
    if report.get("evidence_verified") is not None:
        console().print(
            "evidence computed by the hub from the granted data"
            if report.get("evidence_verified")
            else "evidence not verified: an output-checker must read the query"
        )
    from passerelle.research.disclosure.rule_text import RULE_TEXT

    findings = report.get("findings", [])
    if findings:
        table = Table("rule", "action", "cell", "column", "value", "why")
        for f in findings:
            table.add_row(
                f["rule"],
                f["action"],
                str(f.get("cell") or "-"),
                str(f.get("column") or "-"),
                str(f.get("value") if f.get("value") is not None else "-"),
                f.get("detail") or RULE_TEXT.get(str(f["rule"]), "-"),
            )
        console().print(table)


@releases.command("list")
def _releases_list(
    project: Annotated[int, typer.Option("--project", "-p", help="Project id.")],
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Release requests of a project."""
    from passerelle.workspace import list_releases

    h, me = open_as(hub, token)
    emit(
        list_releases(h, me, project),
        as_json,
        ["id", "query_id", "requested_by", "status", "policy", "decided_by", "output_key"],
    )


@releases.command("show")
def _releases_show(
    release: int, hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """One release with its checking report (which rule touched which cell, and why)."""
    from passerelle.workspace import get_release

    h, me = open_as(hub, token)
    view = get_release(h, me, release)
    if as_json:
        emit(view, True)
    else:
        _print_release(view)


def _decide(approve: bool) -> Callable[..., None]:
    def command(
        release: int,
        comment: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
        hub: HubOpt = None,
        token: TokenOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        from passerelle.workspace import decide_release

        h, me = open_as(hub, token)
        emit(decide_release(h, me, release, approve=approve, comment=comment), as_json, None)

    command.__doc__ = (
        "Approve a flagged release (output-checkers, never your own request)."
        if approve
        else "Reject a flagged release (output-checkers)."
    )
    return command


releases.command("approve")(_decide(True))
releases.command("reject")(_decide(False))


def register(app: typer.Typer) -> None:
    app.command("query")(_query)
    app.add_typer(queries, name="queries")
    app.command("release")(_release)
    app.add_typer(releases, name="releases")
