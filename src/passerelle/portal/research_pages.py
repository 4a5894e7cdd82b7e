"""A project's queries: the SQL editor (run in the project's sandbox), each query's result
with paging, and asking for a release."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Form, Request

from passerelle.errors import PasserelleError
from passerelle.portal.params import Csrf, ItemId, PageNo, page_count
from passerelle.portal.routing import PortalRoute, SignedIn, check_csrf, render

if TYPE_CHECKING:
    from starlette.responses import Response

    from passerelle.hub.rules import Principal

__all__ = ["ROWS_PER_PAGE", "router"]

ROWS_PER_PAGE = 50
_Sql = Annotated[str, Form(max_length=100_000)]


def _editor(
    request: Request,
    actor: Principal,
    project_id: int,
    *,
    sql: str = "",
    message: str | None = None,
    status: int = 200,
) -> Response:
    from passerelle.hub import get_project
    from passerelle.workspace import list_queries

    hub = request.app.state.hub
    project = get_project(hub, actor, project_id)
    queries = list(reversed(list_queries(hub, actor, project_id)))[:50]
    return render(
        request,
        "queries.html",
        status=status,
        project=project,
        queries=queries,
        sql=sql,
        message=message,
    )


async def _refused(
    request: Request, actor: Principal, project_id: int, sql: str, message: str, status: int
) -> Response:
    """The editor again with the SQL kept and the refusal's sentence (it reads the
    project's queries: in a worker thread, off the event loop)."""
    import functools

    from starlette.concurrency import run_in_threadpool

    page = functools.partial(
        _editor, request, actor, project_id, sql=sql, message=message, status=status
    )
    return await run_in_threadpool(page)


def router() -> APIRouter:
    r = APIRouter(route_class=PortalRoute, include_in_schema=False)

    @r.get("/portal/projects/{project_id}/queries")
    def editor(request: Request, actor: SignedIn, project_id: ItemId) -> Response:
        return _editor(request, actor, project_id)

    @r.post("/portal/projects/{project_id}/queries")
    async def run(
        request: Request, actor: SignedIn, project_id: ItemId, sql: _Sql, csrf: Csrf
    ) -> Response:
        from fastapi.responses import RedirectResponse
        from pydantic import ValidationError

        from passerelle.api.errors import status_of
        from passerelle.api.models import QueryCreate
        from passerelle.api.threads import in_query_thread
        from passerelle.workspace import run_query

        check_csrf(request, csrf)
        try:
            body = QueryCreate.model_validate({"sql": sql})  # the API's own checks of the text
        except ValidationError:
            message = "The SQL must be printable text of 1 to 100,000 characters; correct it."
            return await _refused(request, actor, project_id, sql, message, 422)
        try:
            view, _ = await in_query_thread(
                request, run_query, request.app.state.hub, actor, project_id, body.sql
            )
        except PasserelleError as exc:
            return await _refused(request, actor, project_id, sql, str(exc), status_of(exc))
        return RedirectResponse(f"/portal/queries/{view.id}", status_code=303)

    @r.get("/portal/queries/{query_id}")
    def result(request: Request, actor: SignedIn, query_id: ItemId, page: PageNo = 1) -> Response:
        from passerelle.api.tables import json_rows
        from passerelle.workspace import get_query, read_result

        hub = request.app.state.hub
        query = get_query(hub, actor, query_id)
        table = read_result(hub, actor, query_id)
        pages = page_count(table.num_rows, ROWS_PER_PAGE)
        shown = json_rows(table, (page - 1) * ROWS_PER_PAGE, ROWS_PER_PAGE)
        return render(
            request,
            "query.html",
            query=query,
            columns=shown["columns"],
            rows=shown["rows"],
            total=table.num_rows,
            page=page,
            pages=pages,
        )

    @r.post("/portal/queries/{query_id}/release")
    def ask_release(request: Request, actor: SignedIn, query_id: ItemId, csrf: Csrf) -> Response:
        from fastapi.responses import RedirectResponse

        from passerelle.workspace import request_release

        check_csrf(request, csrf)
        release = request_release(request.app.state.hub, actor, query_id)
        return RedirectResponse(f"/portal/releases/{release.id}", status_code=303)

    @r.get("/portal/projects/{project_id}/releases")
    def releases(request: Request, actor: SignedIn, project_id: ItemId) -> Response:
        from passerelle.hub import get_project
        from passerelle.workspace import list_releases

        hub = request.app.state.hub
        project = get_project(hub, actor, project_id)
        found = list_releases(hub, actor, project_id)
        return render(request, "releases.html", project=project, releases=found)

    return r
