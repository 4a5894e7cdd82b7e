"""Research queries: ``/projects/{id}/queries``, ``/queries/{id}`` and its stored result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from passerelle.api.auth import Actor, HubDep
from passerelle.api.downloads import attachment
from passerelle.api.errors import ERROR_RESPONSES
from passerelle.api.models import ListPage, QueryCreate, QueryRun, ResultPage
from passerelle.api.params import ItemId, Limit, Offset, list_page
from passerelle.workspace.queries import QueryView

if TYPE_CHECKING:
    from passerelle.hub.hub import Hub
    from passerelle.hub.rules import Principal

__all__ = ["PARQUET", "router"]

PARQUET = "application/vnd.apache.parquet"
ResultFormat = Annotated[
    Literal["json", "csv", "parquet"],
    Query(description="`json` (one page, by `limit` and `offset`), `csv` or `parquet` (whole)."),
]

_RESULT_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "model": ResultPage,
        "description": "A page of rows (json), or the whole result as CSV or Parquet.",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            PARQUET: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def router() -> APIRouter:
    r = APIRouter(tags=["research"], responses=ERROR_RESPONSES)

    @r.post(
        "/projects/{project_id}/queries",
        status_code=201,
        summary="Run SQL over the project's granted datasets (its researchers)",
        response_model=QueryRun,
    )
    async def run(
        request: Request, project_id: ItemId, body: QueryCreate, hub: HubDep, actor: Actor
    ) -> Response:
        from passerelle.api.threads import in_query_thread

        # The query, its preview's conversion and the JSON all in the queries' pool: a
        # preview grows with the result (1,000 rows of any width), and an ``async`` route's
        # own code and its response's encoding would run on the event loop.
        encoded = await in_query_thread(request, _run_encoded, hub, actor, project_id, body)
        return Response(encoded, status_code=201, media_type="application/json")

    @r.get("/projects/{project_id}/queries", summary="The queries run in a project")
    def list_all(
        project_id: ItemId, hub: HubDep, actor: Actor, limit: Limit = 100, offset: Offset = 0
    ) -> ListPage[QueryView]:
        from passerelle.workspace import list_queries

        return list_page(list_queries(hub, actor, project_id), limit, offset)

    @r.get("/queries/{query_id}", summary="Read a query's record")
    def read(query_id: ItemId, hub: HubDep, actor: Actor) -> QueryView:
        from passerelle.workspace import get_query

        return get_query(hub, actor, query_id)

    @r.get(
        "/queries/{query_id}/result",
        summary="A query's stored result: a JSON page, CSV or Parquet (the project's "
        "researcher members, while it is active and the result is kept)",
        response_class=Response,
        response_model=None,
        responses=_RESULT_RESPONSES,
    )
    def result(
        query_id: ItemId,
        hub: HubDep,
        actor: Actor,
        format: ResultFormat = "json",
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Response:
        from fastapi.responses import JSONResponse

        from passerelle.api.tables import csv_bytes, json_rows, parquet_bytes
        from passerelle.workspace import read_result

        table = read_result(hub, actor, query_id)
        if format == "csv":
            return _download(csv_bytes(table), "text/csv", f"query-{query_id}.csv")
        if format == "parquet":
            return _download(parquet_bytes(table), PARQUET, f"query-{query_id}.parquet")
        page = ResultPage(
            query_id=query_id,
            total=table.num_rows,
            limit=limit,
            offset=offset,
            **json_rows(table, offset, limit),
        )
        return JSONResponse(page.model_dump(mode="json"))

    return r


def _run_encoded(hub: Hub, actor: Principal, project_id: int, body: QueryCreate) -> bytes:
    """Run the query; its record and preview as the JSON of ``QueryRun``."""
    from passerelle.api.tables import json_rows
    from passerelle.research.caps import LimitRequest
    from passerelle.workspace import run_query

    limits = LimitRequest(body.max_rows, body.timeout_s, body.memory_mb)
    view, table = run_query(hub, actor, project_id, body.sql, limits)
    answer = QueryRun(query=view, **json_rows(table, 0, body.preview_rows))
    return answer.model_dump_json(by_alias=True).encode()  # as FastAPI encodes a response model


def _download(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": attachment(filename)},
    )
