"""``/docs``: Swagger UI for the OpenAPI document, served from the hub (no CDN)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request

from passerelle.portal.routing import PortalRoute, render

if TYPE_CHECKING:
    from starlette.responses import Response

__all__ = ["router"]


def router() -> APIRouter:
    r = APIRouter(route_class=PortalRoute, include_in_schema=False)

    @r.get("/docs")
    def docs(request: Request) -> Response:
        return render(request, "docs.html", openapi_url=request.app.openapi_url)

    return r
