"""``/compliance/report``: the compliance report as JSON or printable HTML (auditors, admins)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from passerelle.api.auth import Actor, HubDep
from passerelle.api.errors import ERROR_RESPONSES

__all__ = ["router"]

DatasetQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=128,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="Only this dataset (its name).",
    ),
]
Format = Annotated[Literal["json", "html"], Query(description="JSON or printable HTML.")]


def router() -> APIRouter:
    r = APIRouter(prefix="/compliance", tags=["compliance"], responses=ERROR_RESPONSES)

    @r.get(
        "/report",
        summary="Per dataset: where it lives, policy results, encryption, certificate, access",
        response_class=Response,
        responses={
            200: {
                "description": "The report (JSON object, or one HTML page without script).",
                "content": {
                    "application/json": {"schema": {"type": "object"}},
                    "text/html": {"schema": {"type": "string"}},
                },
            }
        },
    )
    def report(
        hub: HubDep, me: Actor, dataset: DatasetQuery = None, format: Format = "json"
    ) -> Response:
        from passerelle.hub.compliance import compliance_report, html_csp, render_html

        found: dict[str, Any] = compliance_report(hub, me, dataset)
        if format == "json":
            return JSONResponse(found)
        return HTMLResponse(
            render_html(found),
            headers={
                "Content-Security-Policy": html_csp(),
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
            },
        )

    return r
