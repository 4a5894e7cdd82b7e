"""Releasing query results: ``/queries/{id}/releases``, ``/releases/{id}`` and their decisions.

A release is checked by the hub's disclosure control when it is asked for;
a flagged one waits for an output-checker who is not the requester. Only a
released output can be downloaded (``/releases/{id}/output``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.responses import Response

from passerelle.api.auth import Actor, HubDep
from passerelle.api.downloads import attachment
from passerelle.api.errors import ERROR_RESPONSES
from passerelle.api.models import ListPage, ReleaseCreate, ReleaseDecision
from passerelle.api.params import ItemId, Limit, Offset, list_page
from passerelle.workspace.release_queue import PendingRelease
from passerelle.workspace.releases import ReleaseView

if TYPE_CHECKING:
    from passerelle.hub.hub import Hub
    from passerelle.hub.rules import Principal

__all__ = ["router"]

_OUTPUT_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The released table as CSV (suppressed cells empty).",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


def router() -> APIRouter:
    r = APIRouter(tags=["releases"], responses=ERROR_RESPONSES)

    @r.post(
        "/queries/{query_id}/releases",
        status_code=201,
        summary="Ask to release a query's result: disclosure control now, a checker if flagged",
    )
    def request(query_id: ItemId, body: ReleaseCreate, hub: HubDep, actor: Actor) -> ReleaseView:
        from passerelle.workspace import request_release

        return request_release(hub, actor, query_id, groups=body.groups, statistics=body.statistics)

    @r.get("/projects/{project_id}/releases", summary="A project's releases")
    def list_all(
        project_id: ItemId, hub: HubDep, actor: Actor, limit: Limit = 100, offset: Offset = 0
    ) -> ListPage[ReleaseView]:
        from passerelle.workspace import list_releases

        return list_page(list_releases(hub, actor, project_id), limit, offset)

    @r.get(
        "/releases/pending",
        summary="Pending releases in the projects the caller may read, and whether the caller "
        "may decide each (output checkers: the queue)",
    )
    def pending(
        hub: HubDep, actor: Actor, limit: Limit = 100, offset: Offset = 0
    ) -> ListPage[PendingRelease]:
        from passerelle.workspace import list_pending_releases

        return list_page(list_pending_releases(hub, actor), limit, offset)

    @r.get("/releases/{release_id}", summary="Read a release and its checking report")
    def read(release_id: ItemId, hub: HubDep, actor: Actor) -> ReleaseView:
        from passerelle.workspace import get_release

        return get_release(hub, actor, release_id)

    @r.post(
        "/releases/{release_id}/approve",
        summary="Approve a flagged release (an output-checker who did not ask for it)",
    )
    def approve(
        release_id: ItemId, hub: HubDep, actor: Actor, body: ReleaseDecision | None = None
    ) -> ReleaseView:
        from passerelle.workspace import decide_release

        comment = body.comment if body else ""
        return decide_release(hub, actor, release_id, approve=True, comment=comment)

    @r.post(
        "/releases/{release_id}/reject",
        summary="Reject a flagged release (an output-checker who did not ask for it)",
    )
    def reject(
        release_id: ItemId, hub: HubDep, actor: Actor, body: ReleaseDecision | None = None
    ) -> ReleaseView:
        from passerelle.workspace import decide_release

        comment = body.comment if body else ""
        return decide_release(hub, actor, release_id, approve=False, comment=comment)

    @r.get(
        "/releases/{release_id}/output",
        summary="Download a released output (404 until it is released)",
        response_class=Response,
        responses=_OUTPUT_RESPONSES,
    )
    def output(release_id: ItemId, hub: HubDep, actor: Actor) -> Response:
        return Response(
            _released_csv(hub, actor, release_id),
            media_type="text/csv",
            headers={
                "Content-Disposition": attachment(f"release-{release_id}.csv"),
                "Cache-Control": "no-store",
            },
        )

    return r


def _released_csv(hub: Hub, actor: Principal, release_id: int) -> bytes:
    from passerelle.workspace import read_release_output

    return read_release_output(hub, actor, release_id)
