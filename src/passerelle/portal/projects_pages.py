"""A researcher's projects: status, expiry, members and the datasets granted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Query, Request

from passerelle.portal.routing import PortalRoute, SignedIn, render

if TYPE_CHECKING:
    from starlette.responses import Response

__all__ = ["router"]

_PageNo = Annotated[int, Query(ge=1, le=1_000_000)]
_ProjectId = Annotated[int, Path(ge=1, le=2**63 - 1)]
PAGE_SIZE = 25


def router() -> APIRouter:
    r = APIRouter(prefix="/portal/projects", route_class=PortalRoute, include_in_schema=False)

    @r.get("")
    def projects(request: Request, actor: SignedIn, page: _PageNo = 1) -> Response:
        from passerelle.hub import list_projects

        found = list_projects(
            request.app.state.hub, actor, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        pages = max(1, -(-found.total // PAGE_SIZE))
        return render(request, "projects.html", found=found, page=page, pages=pages)

    @r.get("/{project_id}")
    def project(request: Request, actor: SignedIn, project_id: _ProjectId) -> Response:
        from passerelle.hub import get_project, list_grants

        hub = request.app.state.hub
        found = get_project(hub, actor, project_id)
        grants = list_grants(hub, actor, project_id)
        return render(request, "project.html", project=found, grants=grants)

    return r
