"""Move a running hub's data store to another cloud: start, run, cutover, rollback, finish.

Each step checks the caller may run migrations, checks the phase allows it
(``phases.next_phase``), does its work with the migration engine (journal in the
hub folder), and records the new phase in the database together with an audit
event carrying the evidence that allowed it. See ``phases`` for where reads and
writes go in each phase, and docs/operations.md for the runbook.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passerelle.errors import ConflictError, PermissionDeniedError, PolicyViolationError
from passerelle.hub.audit import append_event, authorize
from passerelle.hub.rules import Action, Principal
from passerelle.live.binding import current_binding, load_binding
from passerelle.live.phases import Binding, Phase, next_phase
from passerelle.migration.pacing import LatencyTarget, Pacer

if TYPE_CHECKING:
    from datetime import date

    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub
    from passerelle.migration import RunOptions, RunSummary
    from passerelle.sovereignty.ciphertext_guard import CiphertextOnly

__all__ = [
    "RESEARCH_FIRST",
    "CutoverEvidence",
    "MoveStatus",
    "cutover",
    "finish",
    "migration_status",
    "move_status",
    "rollback",
    "run_backlog",
    "start_move",
]

RESEARCH_FIRST = LatencyTarget(ratio=2.0)
"""The default for a hub's move: researchers' p95 at most twice what it was before."""


@dataclass(frozen=True)
class MoveStatus:
    phase: str
    source_url: str
    destination_url: str | None
    retired_url: str | None
    journal: str | None
    generation: int
    running: bool = False
    objects_total: int = 0
    objects_done: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    failed: int = 0
    blocked: int = 0
    open_debts: int = 0
    throughput_bytes_per_s: float = 0.0
    eta_seconds: float | None = None


@dataclass
class CutoverEvidence:
    synced_objects: int = 0
    checked: int = 0
    verified: int = 0
    mirrored_writes_proven: int = 0
    debts_repaired: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_details(self) -> dict[str, Any]:
        return {
            "synced_objects": self.synced_objects,
            "checked": self.checked,
            "verified_deep": self.verified,
            "mirrored_writes_proven": self.mirrored_writes_proven,
            "debts_repaired": self.debts_repaired,
            "problems": [f"{kind}: {key}" for kind, key in self.problems[:20]],
        }


def _write_binding(hub: Hub, session: Session, b: Binding) -> None:
    from passerelle.hub.tables import StorageBinding

    row = session.get(StorageBinding, 1)
    if row is None:
        row = StorageBinding(id=1, generation=0)
        session.add(row)
    row.phase, row.source_url, row.destination_url = b.phase.value, b.source_url, b.destination_url
    row.retired_url, row.journal, row.generation = b.retired_url, b.journal, b.generation
    row.updated_at = hub.now()
    session.flush()


def _step(
    hub: Hub, session: Session, actor: Principal, step: str, details: dict[str, Any]
) -> Binding:
    """Authorize ``step`` and check the phase allows it; return the current binding."""
    authorize(hub, session, actor, Action.MIGRATION_RUN, "hub:storage", {"step": step, **details})
    current = load_binding(hub, session)
    if next_phase(current.phase, step) is None:
        raise ConflictError(
            f"cannot {step} the hub's storage in phase {current.phase}; "
            "see `passerelle hub migrate status`"
        )
    return current


def _invalidate(hub: Hub) -> None:
    store = hub.store("store")
    invalidate = getattr(store, "invalidate", None)
    if invalidate is not None:
        invalidate()


def start_move(
    hub: Hub, actor: Principal, destination_url: str, *, require: tuple[str, ...] = ()
) -> MoveStatus:
    """Enter ``mirroring`` towards ``destination_url`` and inventory the backlog."""
    from passerelle.live.destinations import refuse_undeclared
    from passerelle.live.store_overlap import refuse_overlap
    from passerelle.migration import PlanOptions, plan_migration
    from passerelle.migration.planner import _check_destination

    destination_url = hub.config.resolve_url(destination_url)
    with hub.transaction() as session:
        current = _step(hub, session, actor, "start", {"destination": destination_url})
        if destination_url == current.source_url:
            raise ConflictError("the destination is the store the hub already uses")
        try:
            refuse_overlap(
                hub,
                session,
                destination_url,
                "the destination",
                may_be=(*_replicas(session), current.retired_url or ""),
            )
            refuse_undeclared(hub.config, destination_url, "the destination")
            _check_destination(destination_url, require, None)
        except (ConflictError, PermissionDeniedError, PolicyViolationError):
            append_event(
                hub,
                session,
                actor=actor.name,
                action="hub.migrate.start",
                target="hub:storage",
                decision="denied",
                details={"destination": destination_url, "require": list(require)},
            )
            session.commit()
            raise
        enforce_policy(hub, session, actor, destination_url, "hub.migrate.start")
        hub.open_url(destination_url).create_container()
        generation = current.generation + 1
        journal = str((hub.config.directory / "moves" / f"move-{generation}.journal").resolve())
        Path(journal).parent.mkdir(parents=True, exist_ok=True)
        mirroring = Binding(
            Phase.MIRRORING, current.source_url, destination_url, None, journal, generation
        )
        _write_binding(hub, session, mirroring)
        append_event(
            hub,
            session,
            actor=actor.name,
            action="hub.migrate.start",
            target="hub:storage",
            decision="allowed",
            details={
                "phase": "mirroring",
                "source": current.source_url,
                "destination": destination_url,
                "journal": journal,
                "require": list(require),
            },
        )
    _invalidate(hub)
    plan_migration(mirroring.source_url, destination_url, journal, PlanOptions(require=require))
    _carry_rules(journal, ciphertext_rules(hub, destination_url))
    return move_status(hub)


def _replicas(session: Session) -> tuple[str, ...]:
    """The replicas' URLs: a move may go to one (the exit the drill rehearses)."""
    from sqlalchemy import select

    from passerelle.hub.tables import Replica

    return tuple(session.execute(select(Replica.url)).scalars())


def ciphertext_rules(hub: Hub, destination: str) -> CiphertextOnly:
    """The keys ``destination`` may hold only as envelopes (catalog and policy, read now)."""
    from passerelle.hub.placement import ciphertext_only_prefixes

    return ciphertext_only_prefixes(hub, destination)


def _carry_rules(journal_path: str, rules: CiphertextOnly) -> None:
    """Write ``rules`` into the move's journal, so any run on it checks them (also a plain
    ``passerelle migrate run --journal``)."""
    import json

    from passerelle.migration.journal import Journal
    from passerelle.migration.runner import CIPHERTEXT_ONLY_META

    if rules.empty:
        return
    journal = Journal.open(journal_path)
    try:
        journal.set_meta(CIPHERTEXT_ONLY_META, json.dumps(rules.to_json(), sort_keys=True))
    finally:
        journal.close()


def _audit_refused(
    hub: Hub, actor: str, action: str, refused: list[tuple[str, str]], destination: str | None
) -> None:
    """One ``denied`` audit event naming the objects refused as plaintext (first 50)."""
    if not refused:
        return
    with hub.transaction() as session:
        append_event(
            hub,
            session,
            actor=actor,
            action=action,
            target="hub:storage",
            decision="denied",
            details={
                "destination": destination,
                "refused": len(refused),
                "keys": [key for key, _ in refused[:50]],
                "reason": refused[0][1],
            },
        )


def enforce_policy(
    hub: Hub, session: Session, actor: Principal, destination: str, action: str
) -> None:
    """Refuse (audited as ``action``) a destination where any dataset, result or release
    of the hub may not live in the form the hub keeps it (plaintext, or ciphertext for
    ``encrypt``)."""
    from sqlalchemy import select

    from passerelle.hub.placement import enforce_ciphertext_at_source, enforce_placement
    from passerelle.hub.tables import Dataset
    from passerelle.sovereignty.policy import DEFAULT_CLASSIFICATION, RELEASE_CLASSIFICATION

    items = [
        (str(n), str(c)) for n, c in session.execute(select(Dataset.name, Dataset.classification))
    ]
    items += [
        ("the projects' query results", DEFAULT_CLASSIFICATION),
        ("the released outputs", RELEASE_CLASSIFICATION),
    ]
    enforce_placement(hub, actor, action, "hub:storage", items, urls=[destination], session=session)
    source = load_binding(hub, session).source_url
    enforce_ciphertext_at_source(hub, actor, action, "hub:storage", source, destination, session)


def run_backlog(
    hub: Hub,
    actor: Principal,
    options: RunOptions | None = None,
    stop: threading.Event | None = None,
    latency_target: LatencyTarget | None = RESEARCH_FIRST,
) -> RunSummary:
    """Copy what the journal says is still to copy (resumes after any crash).

    The copies in flight yield to research: while the p95 of the hub's own query
    durations is over ``latency_target`` (default twice the p95 before the move), the
    move halves them, down to one; ``None`` copies at full ``concurrency`` throughout.
    An object of a classification the destination may hold only as ciphertext that is not
    an envelope at the source is not copied: it is in ``failed`` and ``refused`` with the
    rule, and audited (``denied``)."""
    from passerelle.live.research_latency import research_pacer
    from passerelle.migration import RunOptions, run_migration

    binding = _active(hub, actor, "run")
    assert binding.journal is not None and binding.destination_url is not None
    rules = ciphertext_rules(hub, binding.destination_url)
    options = dataclasses.replace(options or RunOptions(), ciphertext_only=rules)
    if latency_target is not None and options.pacer is None:
        options = dataclasses.replace(options, pacer=research_pacer(hub, latency_target))
    summary = run_migration(binding.journal, options, stop=stop)
    _audit_refused(hub, actor.name, "hub.migrate.run", summary.refused, binding.destination_url)
    return summary


def _active(hub: Hub, actor: Principal, step: str) -> Binding:
    with hub.transaction() as session:
        authorize(hub, session, actor, Action.MIGRATION_RUN, "hub:storage", {"step": step})
        binding = load_binding(hub, session)
    if binding.phase not in (Phase.MIRRORING, Phase.CUTOVER) or binding.journal is None:
        raise ConflictError(
            f"no move in progress (phase {binding.phase}): start one with "
            "`passerelle hub migrate start --to URL`"
        )
    return binding


def _repair_debts(hub: Hub, binding: Binding, refused: list[tuple[str, str]] | None = None) -> int:
    """Copy again every write the destination missed; return how many. A write the
    destination may hold only as ciphertext that is not an envelope is not copied: its
    debt stays open and it is added to ``refused`` (key, reason)."""
    from sqlalchemy import select

    from passerelle.errors import ObjectNotFoundError
    from passerelle.hub.tables import MirrorDebt
    from passerelle.sovereignty.ciphertext_guard import PlaintextRefusedError, guard_source
    from passerelle.storage.metadata import unportable

    assert binding.destination_url is not None
    dst = hub.open_url(binding.destination_url)
    rules = ciphertext_rules(hub, binding.destination_url)
    src = guard_source(hub.open_url(binding.source_url), rules)
    repaired = 0
    with hub.db.transaction() as session:
        debts = list(
            session.execute(
                select(MirrorDebt).where(MirrorDebt.repaired_at.is_(None)).order_by(MirrorDebt.id)
            ).scalars()
        )
        for debt in debts:
            try:
                info = src.head(debt.key)
            except ObjectNotFoundError:
                dst.delete(debt.key)
            else:
                why = unportable(info.content_type, info.metadata, info.uncarried)
                if why is not None:  # the destination cannot hold it exactly: never altered
                    if refused is not None:
                        refused.append((debt.key, why))
                    continue
                try:
                    reader = src.get(debt.key)
                except PlaintextRefusedError as exc:  # checked before dst is asked anything
                    if refused is not None:
                        refused.append((debt.key, str(exc)))
                    continue
                dst.put(
                    debt.key,
                    iter(reader),
                    size=info.size,
                    content_type=info.content_type,
                    metadata=info.metadata,
                )
            debt.repaired_at = hub.now()
            repaired += 1
    return repaired


def _prove(
    hub: Hub, binding: Binding, evidence: CutoverEvidence, latency_target: LatencyTarget | None
) -> None:
    """Final sync, deep verify, and a digest proof of writes mirrored since the last pass;
    both yield to research like the backlog copy (reads and writes go on meanwhile)."""
    from passerelle.live.research_latency import research_pacer
    from passerelle.migration import RunOptions, hash_object, sync_migration, verify_migration

    def pacer() -> Pacer | None:
        return research_pacer(hub, latency_target) if latency_target else None

    assert binding.journal is not None and binding.destination_url is not None
    refused: list[tuple[str, str]] = []
    evidence.debts_repaired += _repair_debts(hub, binding, refused)
    for key, why in refused:
        evidence.problems.append((f"not copied ({why})", key))
    rules = ciphertext_rules(hub, binding.destination_url)
    options = RunOptions(ciphertext_only=rules, pacer=pacer())
    synced = sync_migration(binding.journal, options)
    evidence.synced_objects += synced.run.copied
    for key, why in synced.run.failed + synced.run.changed:
        evidence.problems.append((f"not copied ({why})", key))
    report = verify_migration(binding.journal, deep=True, pacer=pacer())
    evidence.checked, evidence.verified = report.checked, report.verified
    src, dst = hub.open_url(binding.source_url), hub.open_url(binding.destination_url)
    for kind, key in report.problems():
        if kind == "extra":
            try:  # written by the mirror after the sync listed the stores: compare digests
                if hash_object(src, key) == hash_object(dst, key):
                    evidence.mirrored_writes_proven += 1
                    continue
            except Exception as exc:
                kind = f"extra, unprovable ({exc})"
        evidence.problems.append((kind, key))


def cutover(
    hub: Hub, actor: Principal, latency_target: LatencyTarget | None = RESEARCH_FIRST
) -> CutoverEvidence:
    """Final sync and deep verify (yielding to research, see :func:`run_backlog`), then
    switch reads to the destination in one step."""
    with hub.transaction() as session:
        binding = _step(hub, session, actor, "cutover", {})
    evidence = CutoverEvidence()
    _prove(hub, binding, evidence, latency_target)
    with hub.transaction() as session:
        if not evidence.ok:
            append_event(
                hub,
                session,
                actor=actor.name,
                action="hub.migrate.cutover",
                target="hub:storage",
                decision="denied",
                details=evidence.as_details(),
            )
            session.commit()
            kind, key = evidence.problems[0]
            raise ConflictError(
                f"cutover refused: {len(evidence.problems)} objects are not proven at the "
                f"destination (first: {kind} {key}); run `passerelle hub migrate run` and retry"
            )
        current = load_binding(hub, session)
        if current.generation != binding.generation or current.phase is not Phase.MIRRORING:
            raise ConflictError("the move changed while cutover was proving it; retry")
        _write_binding(
            hub,
            session,
            Binding(
                Phase.CUTOVER,
                binding.source_url,
                binding.destination_url,
                None,
                binding.journal,
                binding.generation,
            ),
        )
        append_event(
            hub,
            session,
            actor=actor.name,
            action="hub.migrate.cutover",
            target="hub:storage",
            decision="allowed",
            details={"phase": "cutover", **evidence.as_details()},
        )
    _invalidate(hub)
    return evidence


def finish(hub: Hub, actor: Principal) -> CutoverEvidence:
    """Make the destination the only store; the source stays as a read-only fallback."""
    from passerelle.hub.tables import Dataset

    with hub.transaction() as session:
        binding = _step(hub, session, actor, "finish", {})
    refused: list[tuple[str, str]] = []
    evidence = CutoverEvidence(debts_repaired=_repair_debts(hub, binding, refused))
    assert binding.destination_url is not None
    if refused:
        _audit_refused(hub, actor.name, "hub.migrate.finish", refused, binding.destination_url)
        raise PolicyViolationError(
            f"finish refused: {len(refused)} writes were not copied to the destination "
            f"(first: {refused[0][1]})"
        )
    with hub.transaction() as session:
        _write_binding(
            hub,
            session,
            Binding(
                Phase.SINGLE,
                binding.destination_url,
                None,
                binding.source_url,
                binding.journal,
                binding.generation,
            ),
        )
        for dataset in session.query(Dataset):
            dataset.locations = sorted(
                {
                    binding.destination_url + loc[len(binding.source_url) :]
                    if loc.startswith(binding.source_url)
                    else loc
                    for loc in dataset.locations
                }
            )
        append_event(
            hub,
            session,
            actor=actor.name,
            action="hub.migrate.finish",
            target="hub:storage",
            decision="allowed",
            details={
                "phase": "single",
                "store": binding.destination_url,
                "retired_read_only": binding.source_url,
                "debts_repaired": evidence.debts_repaired,
            },
        )
    _invalidate(hub)
    return evidence


def rollback(hub: Hub, actor: Principal) -> MoveStatus:
    """Return to the source: it received every write first, so nothing is lost."""
    with hub.transaction() as session:
        binding = _step(hub, session, actor, "rollback", {})
        _write_binding(
            hub,
            session,
            Binding(
                Phase.SINGLE,
                binding.source_url,
                None,
                None,
                None,
                binding.generation,
            ),
        )
        append_event(
            hub,
            session,
            actor=actor.name,
            action="hub.migrate.rollback",
            target="hub:storage",
            decision="allowed",
            details={
                "from_phase": binding.phase.value,
                "store": binding.source_url,
                "abandoned_destination": binding.destination_url,
                "journal": binding.journal,
            },
        )
    _invalidate(hub)
    return move_status(hub)


def watching_action(actor: Principal, today: date) -> Action:
    """The action under which ``actor`` watches the move: running it (operators, admins),
    else reading the audit trail (auditors); whoever has neither is refused by it."""
    from passerelle.hub.rules import decide

    if not decide(actor, Action.MIGRATION_RUN, today=today) and decide(
        actor, Action.AUDIT_READ, today=today
    ):
        return Action.AUDIT_READ
    return Action.MIGRATION_RUN


def migration_status(hub: Hub, actor: Principal) -> MoveStatus:
    """``move_status`` for operators, admins and auditors; the read is audited."""
    action = watching_action(actor, hub.now().date())
    with hub.transaction() as session:
        authorize(hub, session, actor, action, "hub:storage", {"step": "status"})
    return move_status(hub)


def move_status(hub: Hub) -> MoveStatus:
    """Phase, progress, throughput and ETA (no permission needed beyond reading the hub)."""
    from sqlalchemy import func, select

    from passerelle.hub.tables import MirrorDebt
    from passerelle.migration import migration_status

    b = current_binding(hub)
    with hub.db.transaction() as session:
        debts = session.execute(
            select(func.count(MirrorDebt.id)).where(MirrorDebt.repaired_at.is_(None))
        ).scalar_one()
    base = MoveStatus(
        phase=b.phase.value,
        source_url=b.source_url,
        destination_url=b.destination_url,
        retired_url=b.retired_url,
        journal=b.journal,
        generation=b.generation,
        open_debts=debts,
    )
    if not b.journal or not Path(b.journal).exists():
        return base
    st = migration_status(b.journal)
    total, total_bytes = st.to_copy
    done, done_bytes = st.objects("done"), st.bytes("done")
    rate = 0.0
    for p in reversed(st.passes):
        stats = p.get("stats") or {}
        seconds, moved = float(stats.get("seconds") or 0), float(stats.get("bytes") or 0)
        if seconds > 0 and moved > 0:
            rate = moved / seconds
            break
    eta = (total_bytes - done_bytes) / rate if rate > 0 else None
    return dataclasses.replace(
        base,
        running=st.running,
        objects_total=total,
        objects_done=done,
        bytes_total=total_bytes,
        bytes_done=done_bytes,
        failed=st.objects("failed"),
        blocked=st.objects("blocked"),
        throughput_bytes_per_s=rate,
        eta_seconds=eta,
    )
