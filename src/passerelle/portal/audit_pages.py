"""The auditor's pages: the audit timeline (filtered, paged), verifying the chain, and where
each dataset lives (provider, region, jurisdiction, certifications, policy)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from passerelle.portal.routing import PortalRoute, SignedIn, render

if TYPE_CHECKING:
    from starlette.responses import Response

__all__ = ["EVENTS_PER_PAGE", "audit_filters", "router"]

EVENTS_PER_PAGE = 50
FILTERS = ("actor", "action", "target", "decision", "dataset", "project", "since", "until")


@functools.cache
def _types() -> dict[str, Any]:
    """The API's own types of the audit filters (the same bounds and patterns)."""
    from pydantic import TypeAdapter

    from passerelle.api import audit as api

    return {
        "actor": TypeAdapter(api.ActorQuery),
        "action": TypeAdapter(api.ActionQuery),
        "target": TypeAdapter(api.TargetQuery),
        "decision": TypeAdapter(api.DecisionQuery),
        "dataset": TypeAdapter(api.DatasetQuery),
        "project": TypeAdapter(api.ProjectQuery),
        "since": TypeAdapter(api.Since),
        "until": TypeAdapter(api.Until),
        "after": TypeAdapter(api.After),
    }


def audit_filters(raw: dict[str, str]) -> dict[str, Any]:
    """The filters of the form's query string, checked with the API's types; an empty
    field is no filter (a form sends every field)."""
    from pydantic import ValidationError

    from passerelle.errors import UsageError

    out: dict[str, Any] = {}
    for name in (*FILTERS, "after"):
        value = raw.get(name, "")
        if value == "":
            continue
        try:
            out[name] = _types()[name].validate_python(value)
        except ValidationError as exc:
            what = exc.errors()[0].get("msg", "invalid value") if exc.errors() else "invalid"
            raise UsageError(f"The filter {name} is not valid ({what}); correct it.") from exc
    return out


def router() -> APIRouter:
    r = APIRouter(route_class=PortalRoute, include_in_schema=False)

    @r.get("/portal/audit")
    def timeline(request: Request, actor: SignedIn) -> Response:
        from urllib.parse import urlencode

        from passerelle.api.audit import filter_from_query
        from passerelle.hub.audit import list_events

        hub = request.app.state.hub
        chosen = audit_filters(dict(request.query_params))
        flt = filter_from_query(
            hub,
            chosen.get("actor"),
            chosen.get("dataset"),
            chosen.get("project"),
            chosen.get("since"),
            chosen.get("until"),
            chosen.get("action"),
            chosen.get("target"),
            chosen.get("decision"),
        )
        after = int(chosen.get("after", 0))
        events = list_events(hub, actor, flt, limit=EVENTS_PER_PAGE, after=after)
        shown = {k: request.query_params.get(k, "") for k in FILTERS}
        following = None
        if len(events) == EVENTS_PER_PAGE:
            following = urlencode(
                {**{k: v for k, v in shown.items() if v}, "after": events[-1]["seq"]}
            )
        return render(request, "audit.html", events=events, shown=shown, following=following)

    @r.get("/portal/audit/verify")
    async def verify(request: Request, actor: SignedIn) -> Response:
        from passerelle.api.threads import in_long_thread
        from passerelle.hub.audit import verify_audit

        report = await in_long_thread(request, verify_audit, request.app.state.hub, actor)
        return render(request, "audit_verify.html", report=report)

    @r.get("/portal/compliance")
    def where(request: Request, actor: SignedIn) -> Response:
        from passerelle.hub.compliance import compliance_report

        report = compliance_report(request.app.state.hub, actor)
        return render(request, "compliance.html", report=report)

    return r
