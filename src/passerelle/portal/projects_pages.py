"""Projects: status, expiry, members and the datasets granted; a steward's filter by
status ("to approve") and the changes ``project_choices`` offers (acted on in
``steward_pages``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Query, Request

from passerelle.portal.params import PageNo, page_count
from passerelle.portal.routing import PortalRoute, SignedIn, render

if TYPE_CHECKING:
    from starlette.responses import Response

__all__ = ["router"]

_Status = Annotated[str, Query(max_length=20, pattern="^(|submitted|approved|suspended|closed)$")]
_ProjectId = Annotated[int, Path(ge=1, le=2**63 - 1)]
PAGE_SIZE = 25


def router() -> APIRouter:
    r = APIRouter(prefix="/portal/projects", route_class=PortalRoute, include_in_schema=False)

    @r.get("")
    def projects(
        request: Request, actor: SignedIn, page: PageNo = 1, status: _Status = ""
    ) -> Response:
        from passerelle.hub import ProjectStatus, list_projects

        found = list_projects(
            request.app.state.hub,
            actor,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
            status=ProjectStatus(status) if status else None,
        )
        pages = page_count(found.total, PAGE_SIZE)
        return render(
            request,
            "projects.html",
            found=found,
            page=page,
            pages=pages,
            state=status,
            statuses=[s.value for s in ProjectStatus],
        )

    @r.get("/{project_id}")
    def project(request: Request, actor: SignedIn, project_id: _ProjectId) -> Response:
        from passerelle.hub import get_project, list_grants
        from passerelle.hub.project_choices import project_choices

        hub = request.app.state.hub
        found = get_project(hub, actor, project_id)
        grants = list_grants(hub, actor, project_id)
        choices = project_choices(hub, actor, project_id)
        return render(request, "project.html", project=found, grants=grants, choices=choices)

    return r
