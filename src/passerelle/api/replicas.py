"""The hub's replicas on other clouds: ``/hub/replicas`` (operators, admins; auditors read).

Proving a replica (``POST /hub/replicas/{name}/verify``, auditors too) and the exit
drill (``POST /hub/replicas/{name}/exit-drill``) run in the long-call pool, like a
move's cutover, which also syncs and verifies. Keeping a replica current
(``passerelle hub replica sync --follow``) runs for as long as the hub does and belongs
to a worker, not to a request: it is not exposed here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from passerelle.api.auth import Actor, HubDep
from passerelle.api.errors import ERROR_RESPONSES
from passerelle.api.models import ReplicaAdd
from passerelle.api.threads import in_long_thread
from passerelle.live.exit_drill import ExitDrill
from passerelle.live.replica import ReplicaStatus

__all__ = ["router"]

_Deep = Annotated[
    bool, Query(description="Re-read and hash every object on the replica (false: listing).")
]


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

    @r.post(
        "/{name}/verify",
        summary="Prove the replica holds the hub's store, with the digests of migrations "
        "(operators, admins, auditors)",
    )
    async def verify(
        request: Request, name: str, hub: HubDep, actor: Actor, deep: _Deep = True
    ) -> dict[str, Any]:
        import functools

        from passerelle.live.replica import verify_replica

        run = functools.partial(verify_replica, hub, actor, name, deep=deep)
        return await in_long_thread(request, run)

    @r.post(
        "/{name}/exit-drill",
        summary="Rehearse leaving this cloud for the replica, timed against the EU Data "
        "Act's limits; the hub keeps serving (operators, admins)",
    )
    async def drill(request: Request, name: str, hub: HubDep, actor: Actor) -> ExitDrill:
        import functools

        from passerelle.live.exit_drill import exit_drill

        return await in_long_thread(request, functools.partial(exit_drill, hub, actor, name))

    @r.delete("/{name}", status_code=204, summary="Stop keeping a replica current (its copy stays)")
    def remove(name: str, hub: HubDep, actor: Actor) -> Response:
        from passerelle.live.replica import remove_replica

        remove_replica(hub, actor, name)
        return Response(status_code=204)

    return r
