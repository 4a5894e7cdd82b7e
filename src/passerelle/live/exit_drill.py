"""Rehearse leaving the current cloud for a replica, without leaving (``hub exit-drill``).

The drill does for real every step of a switch that reads and copies, and none that
changes where the hub reads or writes:

1. final sync: the replica's outbox drained and an incremental pass (both sides listed,
   the difference copied, deletions carried);
2. proof: a deep verify of the replica (every object re-read and hashed against the
   journal's SHA-256, objects written since the pass hashed on both sides);
3. cutover: not done. A real switch (``hub migrate start --to`` the replica, ``cutover``,
   ``finish``) lists both sides once more at start and syncs once more at cutover, then
   switches reads in one database transaction that every process follows within the
   binding's TTL; the drill counts that as two syncs, one verify and the TTL.

It then holds the measured switch against the EU Data Act's limits (:mod:`.data_act`),
with a full copy from scratch at the replica's measured copy rate for comparison, and
records everything in the audit log. The hub's binding is checked unchanged at the end.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from passerelle.errors import ConflictError
from passerelle.hub.audit import append_event
from passerelle.hub.rules import Action
from passerelle.live.data_act import Limit, assess_switch

if TYPE_CHECKING:
    from passerelle.hub.hub import Hub
    from passerelle.hub.rules import Principal

__all__ = ["ExitDrill", "exit_drill"]


@dataclass(frozen=True)
class ExitDrill:
    """What a switch to the replica would take, measured, and the Data Act's verdict."""

    replica: str
    replica_url: str
    store_url: str
    objects: int  # on the hub's store at the final sync
    bytes: int
    final_sync_seconds: float
    verify_seconds: float
    switch_seconds: float  # 2 syncs + verify + the binding's TTL (module docstring)
    copy_rate_bytes_per_s: float | None
    full_copy_seconds: float | None
    egress_cost: str | None
    ready: bool  # the replica is proven: a switch now would lose nothing
    problems: list[str] = field(default_factory=list)
    limits: list[Limit] = field(default_factory=list)
    hub_unchanged: bool = True

    def as_details(self) -> dict[str, Any]:
        return asdict(self)


def exit_drill(hub: Hub, actor: Principal, name: str) -> ExitDrill:
    """Run the drill towards the replica ``name`` (operators, admins); audited."""
    from passerelle.live.binding import BINDING_TTL, current_binding
    from passerelle.live.mover import RESEARCH_FIRST
    from passerelle.live.replica import authorized_target, drain
    from passerelle.live.replica_passes import incremental_pass, prove
    from passerelle.live.research_latency import research_pacer

    target = authorized_target(hub, actor, name, Action.MIGRATION_RUN, "exit-drill")
    before = current_binding(hub)
    started = time.perf_counter()
    drained = drain(hub, target)
    synced = incremental_pass(hub, target, pacer=research_pacer(hub, RESEARCH_FIRST))
    final_sync = time.perf_counter() - started
    proof = prove(hub, target, deep=True)
    verify_s = float(proof["seconds"])
    problems = [f"not copied: {f}" for f in synced["failures"]] + list(proof["examples"])
    problems += [f"not copied: {f}" for f in drained.as_details()["failures"]]
    ready = bool(proof["ok"]) and bool(synced["complete"]) and not drained.failed
    rate = synced.get("rate_bytes_per_s")
    total_bytes, objects = int(synced["listed_bytes"]), int(synced["listed"])
    full_copy = total_bytes / rate if rate else None
    switch = 2 * final_sync + verify_s + BINDING_TTL
    egress = _egress(synced["primary"], objects, total_bytes)
    after = current_binding(hub)
    drill = ExitDrill(
        replica=name,
        replica_url=target.url,
        store_url=synced["primary"],
        objects=objects,
        bytes=total_bytes,
        final_sync_seconds=round(final_sync, 3),
        verify_seconds=round(verify_s, 3),
        switch_seconds=round(switch, 3),
        copy_rate_bytes_per_s=rate,
        full_copy_seconds=round(full_copy, 1) if full_copy is not None else None,
        egress_cost=egress,
        ready=ready,
        problems=problems[:20],
        limits=assess_switch(switch, full_copy, egress, hub.now().date()),
        hub_unchanged=after == before,
    )
    with hub.transaction() as session:
        append_event(
            hub,
            session,
            actor=actor.name,
            action="hub.exit-drill",
            target=f"hub:replica:{name}",
            decision="allowed",
            details=drill.as_details(),
        )
    if not drill.hub_unchanged:
        raise ConflictError(
            "the hub's storage changed while the drill ran (a move step was taken); "
            "its timings are recorded in the audit log, run the drill again"
        )
    return drill


def _egress(primary: str, objects: int, total_bytes: int) -> str | None:
    """Leaving ``primary``'s provider with everything, at its list price."""
    from passerelle.migration.estimate import estimate_migration
    from passerelle.providers import load_profiles
    from passerelle.storage.opener import store_location

    provider, _ = store_location(primary, None)
    profile = load_profiles().get(provider) if provider else None
    if profile is None:
        return None
    estimate = estimate_migration(objects, total_bytes, 0, 0, profile, None)
    return f"{estimate.egress_cost:.2f} {estimate.egress_currency}"
