"""Releases: one release with its disclosure report, and the output checkers' queue with
approve and reject (never one's own request: ``rules.decide`` says so, not the page)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Form, Request

from passerelle.api.downloads import attachment
from passerelle.portal.params import Csrf, ItemId
from passerelle.portal.routing import PortalRoute, SignedIn, check_csrf, render

if TYPE_CHECKING:
    from starlette.responses import Response

__all__ = ["router"]

_Reason = Annotated[str, Form(max_length=2000)]


def router() -> APIRouter:
    r = APIRouter(prefix="/portal/releases", route_class=PortalRoute, include_in_schema=False)

    @r.get("")
    def queue(request: Request, actor: SignedIn) -> Response:
        from passerelle.workspace import list_pending_releases

        pending = list_pending_releases(request.app.state.hub, actor)
        return render(request, "queue.html", pending=pending)

    @r.get("/{release_id}")
    def release(request: Request, actor: SignedIn, release_id: ItemId) -> Response:
        from passerelle.hub import get_project
        from passerelle.workspace import get_release
        from passerelle.workspace.release_queue import pending_release

        hub = request.app.state.hub
        found = get_release(hub, actor, release_id)
        project = get_project(hub, actor, found.project_id)
        return render(
            request,
            "release.html",
            release=found,
            project=project,
            pending=pending_release(hub, actor, release_id),
        )

    @r.post("/{release_id}/decide")
    def decide(
        request: Request,
        actor: SignedIn,
        release_id: ItemId,
        csrf: Csrf,
        decision: Annotated[str, Form(pattern="^(approve|reject)$")],
        reason: _Reason = "",
    ) -> Response:
        from fastapi.responses import RedirectResponse
        from pydantic import ValidationError

        from passerelle.api.models import ReleaseDecision
        from passerelle.errors import UsageError
        from passerelle.workspace import decide_release

        check_csrf(request, csrf)
        try:
            body = ReleaseDecision.model_validate({"comment": reason})  # the API's own checks
        except ValidationError as exc:
            raise UsageError(
                "The reason must be printable text of at most 2,000 characters; shorten it."
            ) from exc
        decide_release(
            request.app.state.hub,
            actor,
            release_id,
            approve=decision == "approve",
            comment=body.comment,
        )
        return RedirectResponse(f"/portal/releases/{release_id}", status_code=303)

    @r.get("/{release_id}/output.csv")
    def output(request: Request, actor: SignedIn, release_id: ItemId) -> Response:
        from fastapi.responses import Response as Plain

        from passerelle.workspace import read_release_output

        body = read_release_output(request.app.state.hub, actor, release_id)
        return Plain(
            body,
            media_type="text/csv",
            headers={
                "Content-Disposition": attachment(f"release-{release_id}.csv"),
                "Cache-Control": "no-store",
            },
        )

    return r
