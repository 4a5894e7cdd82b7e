"""``/audit``: list, export and verify the tamper-evident audit log (auditors and admins)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from passerelle.api.auth import Actor, HubDep
from passerelle.api.downloads import attachment
from passerelle.api.errors import ERROR_RESPONSES
from passerelle.api.models import MAX_INT, AuditEventOut, AuditPage, VerifyOut, audit_time
from passerelle.api.params import Limit

if TYPE_CHECKING:
    from passerelle.hub import AuditFilter, Hub

__all__ = ["filter_from_query", "router"]

ActorQuery = Annotated[
    str | None,
    Query(max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$", description="Only this actor's events."),
]
DatasetQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="Only events about this dataset (its name or id).",
    ),
]
ActionQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="Only this action (e.g. `query.run`), or a family ending in `.` (`release.`).",
    ),
]
TargetQuery = Annotated[
    str | None,
    Query(
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="Only events about this target (e.g. `project:3`).",
    ),
]
DecisionQuery = Annotated[
    Literal["allowed", "denied", "error"] | None,
    Query(description="Only allowed, denied or failed actions."),
]
ProjectQuery = Annotated[
    int | None, Query(ge=1, le=MAX_INT, description="Only events about this project.")
]
Since = Annotated[datetime | None, Query(description="Events at or after this time (UTC).")]
Until = Annotated[datetime | None, Query(description="Events at or before this time (UTC).")]
After = Annotated[int, Query(ge=0, le=MAX_INT, description="Only events with a larger `seq`.")]
Format = Annotated[Literal["jsonl", "csv"], Query(description="JSON lines or CSV.")]

_MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


def filter_from_query(
    hub: Hub,
    actor: str | None,
    dataset: str | None,
    project: int | None,
    since: datetime | None,
    until: datetime | None,
    action: str | None = None,
    target: str | None = None,
    decision: str | None = None,
) -> AuditFilter:
    """The library's filter from the query's values (a dataset by name or id)."""
    from passerelle.hub import AuditFilter
    from passerelle.hub.audit import resolve_dataset_id

    return AuditFilter(
        actor=actor or None,
        dataset=resolve_dataset_id(hub, dataset or None),
        project=project,
        since=audit_time(since),
        until=audit_time(until),
        action=action or None,
        target=target or None,
        decision=decision or None,
    )


def router() -> APIRouter:
    r = APIRouter(prefix="/audit", tags=["audit"], responses=ERROR_RESPONSES)

    @r.get("/events", summary="Audit events in chain order, filtered, one page at a time")
    def events(
        hub: HubDep,
        me: Actor,
        actor: ActorQuery = None,
        dataset: DatasetQuery = None,
        project: ProjectQuery = None,
        since: Since = None,
        until: Until = None,
        limit: Limit = 100,
        after: After = 0,
        action: ActionQuery = None,
        target: TargetQuery = None,
        decision: DecisionQuery = None,
    ) -> AuditPage:
        from passerelle.hub.audit import list_events

        flt = filter_from_query(
            hub, actor, dataset, project, since, until, action, target, decision
        )
        found = list_events(hub, me, flt, limit=limit, after=after)
        return AuditPage(
            items=[AuditEventOut.model_validate(e) for e in found],
            limit=limit,
            after=after,
            next_after=found[-1]["seq"] if len(found) == limit else None,
        )

    @r.get(
        "/export",
        summary="Export the audit events as JSON lines or CSV",
        response_class=Response,
        responses={
            200: {
                "description": "The events, one per line (CSV with a header row).",
                "content": {
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "text/csv": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def export(
        request: Request,
        hub: HubDep,
        me: Actor,
        format: Format = "jsonl",
        actor: ActorQuery = None,
        dataset: DatasetQuery = None,
        project: ProjectQuery = None,
        since: Since = None,
        until: Until = None,
    ) -> Response:
        import io

        from passerelle.api.threads import in_long_thread
        from passerelle.hub import export_events

        def write() -> str:
            flt = filter_from_query(hub, actor, dataset, project, since, until)
            out = io.StringIO()
            export_events(hub, me, flt, out, format)
            return out.getvalue()

        return Response(
            await in_long_thread(request, write),
            media_type=_MEDIA[format],
            headers={"Content-Disposition": attachment(f"audit.{format}")},
        )

    @r.get("/verify", summary="Verify the hash chain and the signed checkpoints")
    async def verify(request: Request, hub: HubDep, me: Actor) -> VerifyOut:
        from passerelle.api.threads import in_long_thread
        from passerelle.hub.audit import verify_audit

        report = await in_long_thread(request, verify_audit, hub, me)
        return VerifyOut(
            ok=report.ok,
            events=report.chain.events,
            head_seq=report.chain.head_seq,
            head_hash=report.chain.head_hash,
            checkpoints=report.checkpoints,
            first_bad_seq=report.first_bad_seq,
            problem=report.problem,
        )

    return r
