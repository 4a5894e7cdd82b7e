"""The hub's live storage move: ``/hub/migration`` (operators, admins) and ``/metrics``.

The backlog copy is long-running and belongs to the worker
(``passerelle hub migrate run``), not to a request: it is not exposed here.
``/metrics`` serves numbers only (no URL, path or name), without a token, for
Prometheus scrapers; it reads the status without an audit event, since a
scrape every few seconds would flood the audit log with reads that reveal
nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response

from passerelle.api.auth import Actor, HubDep
from passerelle.api.errors import ERROR_RESPONSES
from passerelle.api.models import CutoverOut, MigrationStart
from passerelle.api.threads import in_long_thread
from passerelle.live.mover import MoveStatus

if TYPE_CHECKING:
    from passerelle.live.mover import CutoverEvidence

__all__ = ["metrics_router", "router"]


def _evidence(evidence: CutoverEvidence) -> CutoverOut:
    return CutoverOut(ok=evidence.ok, **evidence.as_details())


def router() -> APIRouter:
    r = APIRouter(prefix="/hub/migration", tags=["migration"], responses=ERROR_RESPONSES)

    @r.get("", summary="The storage phase, the move's progress, throughput and ETA")
    def status(hub: HubDep, actor: Actor) -> MoveStatus:
        from passerelle.live import migration_status

        return migration_status(hub, actor)

    @r.post("/start", summary="Start mirroring every write to a destination store (operators)")
    async def start(
        request: Request, body: MigrationStart, hub: HubDep, actor: Actor
    ) -> MoveStatus:
        import functools

        from passerelle.live import start_move

        run = functools.partial(
            start_move, hub, actor, body.destination_url, require=tuple(body.require)
        )
        return await in_long_thread(request, run)  # it inventories the backlog

    @r.post("/cutover", summary="Final sync and deep verify, then read from the destination")
    async def cut(request: Request, hub: HubDep, actor: Actor) -> CutoverOut:
        from passerelle.live import cutover

        return _evidence(await in_long_thread(request, cutover, hub, actor))

    @r.post("/rollback", summary="Go back to the source store, with every write made since")
    async def back(request: Request, hub: HubDep, actor: Actor) -> MoveStatus:
        from passerelle.live import rollback

        return await in_long_thread(request, rollback, hub, actor)

    @r.post("/finish", summary="Make the destination the only store; the source stays read-only")
    async def done(request: Request, hub: HubDep, actor: Actor) -> CutoverOut:
        from passerelle.live import finish

        return _evidence(await in_long_thread(request, finish, hub, actor))

    @r.get(
        "/decommission-check",
        summary="Whether the store a finished move retired holds objects the hub's store "
        "lacks (operators, admins, auditors)",
    )
    async def decommission(request: Request, hub: HubDep, actor: Actor) -> dict[str, object]:
        from passerelle.live.decommission import decommission_check

        check = await in_long_thread(request, decommission_check, hub, actor)
        return check.as_details()

    return r


_METRICS_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "Prometheus text exposition format 0.0.4.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    },
    503: ERROR_RESPONSES[503],
}


def metrics_router() -> APIRouter:
    r = APIRouter(tags=["metrics"])

    @r.get(
        "/metrics",
        summary="The live move's progress and the replicas' lag (no token; numbers only)",
        response_class=Response,
        responses=_METRICS_RESPONSES,
    )
    def metrics(hub: HubDep) -> Response:
        from passerelle.live import move_status
        from passerelle.live.metrics import CONTENT_TYPE, prometheus_text
        from passerelle.live.replica import replica_statuses

        text = prometheus_text(move_status(hub), replica_statuses(hub))
        return Response(text, media_type=CONTENT_TYPE)

    return r
