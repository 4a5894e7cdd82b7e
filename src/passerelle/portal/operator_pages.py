"""The operator's page: the live move (phase, progress, debts, a live chart of throughput
and of researchers' query latency) and the phase changes, each confirmed first.

The chart polls ``/portal/operator/samples.json``: numbers only (the same ones
``/metrics`` serves without a token, plus the researchers' p95 from the hub's own
query records), after ``rules.decide`` says the session may see the move, and
without an audit event per poll, as for ``/metrics``; opening the page itself is
audited like ``GET /hub/migration``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Form, Path, Request

from passerelle.portal.params import Csrf
from passerelle.portal.routing import PortalRoute, SignedIn, check_csrf, render

if TYPE_CHECKING:
    from starlette.responses import Response

    from passerelle.api.models import MigrationStart
    from passerelle.hub.rules import Principal
    from passerelle.live.mover import MoveStatus

__all__ = ["STEPS", "router", "steps_open"]

STEPS = {
    "start": "Start the move: mirror every write to the destination and copy the backlog",
    "cutover": "Cut over: final sync and deep verify, then read from the destination",
    "rollback": "Roll back: read and write the source only again (it holds every write)",
    "finish": "Finish: the destination becomes the only store; the source stays read-only",
}
_Step = Annotated[str, Path(pattern="^(start|cutover|rollback|finish)$")]
REPLICA_ACTIONS = {
    "verify": "Prove the replica: every object re-read there and hashed against the hub's",
    "exit-drill": "Rehearse the exit: final sync and proof timed against the EU Data Act, "
    "the hub keeps serving",
}
_ReplicaAction = Annotated[str, Path(pattern="^(verify|exit-drill)$")]
_ReplicaName = Annotated[str, Path(min_length=1, max_length=63)]


def steps_open(phase: str) -> list[str]:
    """The phase changes possible from ``phase`` (pure; the library checks again)."""
    from passerelle.live.phases import Phase, next_phase

    return [s for s in STEPS if next_phase(Phase(phase), s) is not None]


def _may_watch(request: Request, actor: Principal) -> None:
    """The chart's feed, polled every few seconds, asks the rules without an audit event
    each time (the page that opened it was audited by ``migration_status``)."""
    from passerelle.errors import PermissionDeniedError
    from passerelle.hub.rules import decide
    from passerelle.live.mover import watching_action

    today = request.app.state.hub.now().date()
    if not decide(actor, watching_action(actor, today), today=today):
        raise PermissionDeniedError(
            "watching the move needs the role operator, admin or auditor; ask an admin"
        )


def _move_page(
    request: Request, move: MoveStatus, *, done: str | None = None, evidence: object = None
) -> Response:
    """The operator page for ``move`` (read through ``migration_status``: authorized, audited)."""
    from passerelle.live.replica import replica_statuses

    steps = [(s, STEPS[s]) for s in steps_open(move.phase)]
    replicas = replica_statuses(request.app.state.hub)  # the same readers, audited above
    return render(
        request,
        "operator.html",
        move=move,
        steps=steps,
        done=done,
        evidence=evidence,
        replicas=replicas,
    )


def _take_step(
    request: Request, actor: Principal, step: str, body: MigrationStart | None
) -> Response:
    """Take ``step`` with the library, then the operator page with its evidence."""
    from passerelle.live import cutover, finish, migration_status, rollback, start_move

    hub = request.app.state.hub
    evidence = None
    if step == "start":
        assert body is not None
        start_move(hub, actor, body.destination_url, require=tuple(body.require))
    elif step == "cutover":
        evidence = cutover(hub, actor)
    elif step == "finish":
        evidence = finish(hub, actor)
    else:
        rollback(hub, actor)
    return _move_page(request, migration_status(hub, actor), done=step, evidence=evidence)


def _replica_action(request: Request, actor: Principal, name: str, action: str) -> Response:
    """Prove the replica or drill the exit to it with the library, and show the answer."""
    from passerelle.live.exit_drill import exit_drill
    from passerelle.live.replica import verify_replica

    hub = request.app.state.hub
    if action == "verify":
        return _replica_page(request, name, action, proof=verify_replica(hub, actor, name))
    return _replica_page(request, name, action, drill=exit_drill(hub, actor, name))


def _replica_page(
    request: Request, name: str, action: str, *, proof: object = None, drill: object = None
) -> Response:
    """The replica action's page: its confirmation (no answer yet), or its answer."""
    return render(
        request,
        "operator_replica.html",
        name=name,
        action=action,
        text=REPLICA_ACTIONS[action],
        proof=proof,
        drill=drill,
    )


def router() -> APIRouter:
    r = APIRouter(prefix="/portal/operator", route_class=PortalRoute, include_in_schema=False)

    @r.get("/replicas/{name}/{action}")
    def confirm_replica(
        request: Request, actor: SignedIn, name: _ReplicaName, action: _ReplicaAction
    ) -> Response:
        from passerelle.hub.rules import Action
        from passerelle.live.mover import watching_action
        from passerelle.live.replica import authorized_target

        hub = request.app.state.hub
        needed = (
            watching_action(actor, hub.now().date()) if action == "verify" else Action.MIGRATION_RUN
        )
        authorized_target(hub, actor, name, needed, f"confirm-{action}")
        return _replica_page(request, name, action)

    @r.post("/replicas/{name}/{action}")
    async def run_replica(
        request: Request, actor: SignedIn, name: _ReplicaName, action: _ReplicaAction, csrf: Csrf
    ) -> Response:
        from passerelle.api.threads import in_long_thread

        check_csrf(request, csrf)
        return await in_long_thread(request, _replica_action, request, actor, name, action)

    @r.get("")
    def page(request: Request, actor: SignedIn) -> Response:
        from passerelle.live import migration_status

        return _move_page(request, migration_status(request.app.state.hub, actor))

    @r.get("/samples.json")
    def samples(request: Request, actor: SignedIn) -> Response:
        from fastapi.responses import JSONResponse

        from passerelle.live import move_status
        from passerelle.live.research_latency import ResearchLatency

        _may_watch(request, actor)
        hub = request.app.state.hub
        st = move_status(hub)
        latency = ResearchLatency(hub, window_s=10.0)
        return JSONResponse(
            {
                "at": hub.now().timestamp(),
                "phase": st.phase,
                "running": st.running,
                "objects_done": st.objects_done,
                "objects_total": st.objects_total,
                "bytes_done": st.bytes_done,
                "bytes_total": st.bytes_total,
                "throughput_bytes_per_s": st.throughput_bytes_per_s,
                "eta_seconds": st.eta_seconds,
                "open_debts": st.open_debts,
                "failed": st.failed,
                "research_p95_s": latency.recent_p95(),
                "idle_p95_s": latency.idle_p95(),
            },
            headers={"cache-control": "no-store"},
        )

    @r.get("/{step}")
    def confirm(request: Request, actor: SignedIn, step: _Step) -> Response:
        from passerelle.live import migration_status

        status = migration_status(request.app.state.hub, actor)
        return render(request, "operator_confirm.html", step=step, text=STEPS[step], move=status)

    @r.post("/{step}")
    async def change(
        request: Request,
        actor: SignedIn,
        step: _Step,
        csrf: Csrf,
        destination: Annotated[str, Form(max_length=2000)] = "",
        require: Annotated[list[str] | None, Form()] = None,
    ) -> Response:
        from pydantic import ValidationError

        from passerelle.api.models import MigrationStart
        from passerelle.api.threads import in_long_thread
        from passerelle.errors import UsageError

        check_csrf(request, csrf)
        body = None
        if step == "start":
            try:  # the API's own checks of the destination and the rules named
                body = MigrationStart.model_validate(
                    {"destination_url": destination.strip(), "require": require or []}
                )
            except ValidationError as exc:
                raise UsageError(
                    "The destination must be a store URL (e.g. s3://remote@bucket) and the "
                    "rules among hds, secnumcloud, eea, eu-jurisdiction; correct them."
                ) from exc
        # the step (a backlog inventory, a deep verify) and the page after it, off the loop
        return await in_long_thread(request, _take_step, request, actor, step, body)

    return r
