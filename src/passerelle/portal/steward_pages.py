"""The stewards' pages: the ingestion record with its quarantine reasons by kind, a
project's status changes, and its grants (given and revoked from the project page).

Forms carry the session's CSRF value and go through the API's own request models;
the library decides and audits every change, and its refusal is the page's sentence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, Query, Request

from passerelle.portal.params import Csrf, ItemId, PageNo, page_count
from passerelle.portal.routing import PortalRoute, SignedIn, check_csrf, render

if TYPE_CHECKING:
    from starlette.responses import Response

__all__ = ["PAGE_SIZE", "router"]

PAGE_SIZE = 25
_NAME = r"^[^\x00-\x1f\x7f/]*$"  # empty: the page's own form, its filter cleared (every run)
_DatasetFilter = Annotated[str | None, Query(max_length=64, pattern=_NAME)]


def router() -> APIRouter:
    r = APIRouter(prefix="/portal", route_class=PortalRoute, include_in_schema=False)

    @r.get("/ingests")
    def ingests(
        request: Request, actor: SignedIn, dataset: _DatasetFilter = None, page: PageNo = 1
    ) -> Response:
        from passerelle.hub import list_ingests

        found = list_ingests(
            request.app.state.hub,
            actor,
            dataset=dataset or None,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        pages = page_count(found.total, PAGE_SIZE)
        return render(
            request, "ingests.html", found=found, dataset=dataset or "", page=page, pages=pages
        )

    @r.get("/projects/{project_id}/close")
    def confirm_close(request: Request, actor: SignedIn, project_id: ItemId) -> Response:
        from passerelle.hub import get_project

        found = get_project(request.app.state.hub, actor, project_id)
        return render(request, "project_close.html", project=found)

    @r.post("/projects/{project_id}/status")
    def change(
        request: Request,
        actor: SignedIn,
        project_id: ItemId,
        csrf: Csrf,
        verb: Annotated[str, Form(pattern="^(approve|suspend|reinstate|close)$")],
    ) -> Response:
        from passerelle.hub import change_status

        check_csrf(request, csrf)
        change_status(request.app.state.hub, actor, project_id, verb)
        return _back_to(project_id)

    @r.post("/projects/{project_id}/grants")
    def grant(
        request: Request,
        actor: SignedIn,
        project_id: ItemId,
        csrf: Csrf,
        dataset: Annotated[str, Form(max_length=200)],
        expires_on: Annotated[str, Form(max_length=20)] = "",
        columns: Annotated[str, Form(max_length=20_000)] = "",
    ) -> Response:
        from passerelle.hub import create_grant

        check_csrf(request, csrf)
        body = _grant_body(dataset, expires_on, columns)
        create_grant(
            request.app.state.hub,
            actor,
            project_id,
            body.dataset,
            expires_on=body.expires_on,
            columns=body.columns,
        )
        return _back_to(project_id)

    @r.post("/grants/{grant_id}/revoke")
    def revoke(request: Request, actor: SignedIn, grant_id: ItemId, csrf: Csrf) -> Response:
        from passerelle.hub import revoke_grant

        check_csrf(request, csrf)
        revoked = revoke_grant(request.app.state.hub, actor, grant_id)
        return _back_to(revoked.project_id)

    return r


def _back_to(project_id: int) -> Response:
    from fastapi.responses import RedirectResponse

    return RedirectResponse(f"/portal/projects/{project_id}", status_code=303)


def _grant_body(dataset: str, expires_on: str, columns: str) -> Any:
    """The form's values checked by the API's ``GrantCreate`` (one rule for both)."""
    from pydantic import ValidationError

    from passerelle.api.models import GrantCreate
    from passerelle.errors import UsageError

    picked = [c.strip() for c in columns.split(",") if c.strip()]
    given: dict[str, Any] = {"dataset": dataset.strip()}
    if expires_on.strip():
        given["expires_on"] = expires_on.strip()
    if picked:
        given["columns"] = picked
    try:
        return GrantCreate.model_validate(given)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ()))
        raise UsageError(
            f"{field}: {str(first.get('msg', 'invalid value')).rstrip('.')}; correct it and "
            "retry (a dataset name, a date as YYYY-MM-DD, columns separated by commas)."
        ) from exc
