"""The hub's replicas on other clouds: ``/hub/replicas`` (operators, admins; auditors read).

Keeping a replica current (``passerelle hub replica sync --follow``), proving it
(``hub replica verify``) and the exit drill (``hub exit-drill``) run for minutes to
hours and belong to the worker and the CLI, not to a request: they are not exposed here.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from passerelle.api.auth import Actor, HubDep
from passerelle.api.errors import ERROR_RESPONSES
from passerelle.api.models import ReplicaAdd
from passerelle.api.threads import in_long_thread
from passerelle.live.replica import ReplicaStatus

__all__ = ["router"]


def router() -> APIRouter:
    r = APIRouter(prefix="/hub/replicas", tags=["replicas"], responses=ERROR_RESPONSES)

    @r.get("", summary="Each replica with its lag (objects, bytes, seconds), last pass and proof")
    def listing(hub: HubDep, actor: Actor) -> list[ReplicaStatus]:
        from passerelle.live.replica import replica_statuses

        return replica_statuses(hub, actor)

    @r.post(
        "",
        status_code=201,
        summary="Register a replica, policy-checked like a move's destination (operators)",
    )
    async def add(request: Request, body: ReplicaAdd, hub: HubDep, actor: Actor) -> ReplicaStatus:
        import functools

        from passerelle.live.replica import add_replica

        run = functools.partial(
            add_replica,
            hub,
            actor,
            body.url,
            name=body.name,
            require=tuple(body.require),
            adopt=body.adopt,
        )
        return await in_long_thread(request, run)  # it reaches the replica's cloud

    @r.delete("/{name}", status_code=204, summary="Stop keeping a replica current (its copy stays)")
    def remove(name: str, hub: HubDep, actor: Actor) -> Response:
        from passerelle.live.replica import remove_replica

        remove_replica(hub, actor, name)
        return Response(status_code=204)

    return r
