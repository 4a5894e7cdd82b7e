"""Continuous replicas of the hub's store on another cloud (``passerelle hub replica``).

A replica is registered like a move's destination is checked: the placement policy of
every classification the hub holds, the ``--require`` rules, and ciphertext only where the
policy says so (a key that must be an envelope there and is not is never copied). Two
things keep it current:

- the outbox (:mod:`.replica_outbox`): every write to the hub's store is noted for each
  replica and copied by :func:`drain` (``sync``, or ``sync --follow`` continuously), so a
  replica is seconds behind;
- incremental passes: a migration plan from the hub's store to the replica in the
  replica's own journal, copying what differs and deleting what the hub no longer holds,
  so anything the outbox missed (a write made while the database was unreachable, writes
  from before the replica existed) is caught.

The hub's store here is the one that takes every write first (``route(binding).writes[0]``):
the source until a move finishes, complete in every phase. A copy goes through
``stream_copy``, so the replica holds the same SHA-256 proof as a migration's destination,
and :func:`verify_replica` checks it the way ``migrate verify`` does.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from passerelle.errors import (
    ConflictError,
    NotFoundError,
    PasserelleError,
    PermissionDeniedError,
    PolicyViolationError,
)
from passerelle.hub.audit import append_event, authorize
from passerelle.hub.rules import Action
from passerelle.live.replica_passes import incremental_pass, prove, record

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub
    from passerelle.hub.rules import Principal
    from passerelle.hub.tables import Replica
    from passerelle.live.replica_outbox import Backlog

__all__ = [
    "DrainSummary",
    "ReplicaStatus",
    "ReplicaTarget",
    "add_replica",
    "authorized_target",
    "drain",
    "follow_replicas",
    "primary_url",
    "remove_replica",
    "replica_statuses",
    "sync_replica",
    "verify_replica",
]

_DRAIN_BATCH = 256
_DRAIN_THREADS = 8
_EXAMPLES = 20


@dataclass(frozen=True)
class ReplicaStatus:
    """A replica and how far behind the hub's store it is."""

    id: int  # the only label ``/metrics`` gives it (no name or URL leaves without a token)
    name: str
    url: str
    created_at: str
    lag_objects: int  # keys written to the hub's store the replica has not received
    lag_bytes: int
    lag_seconds: float  # age of the oldest such write (0 when none)
    last_pass_at: str | None
    last_pass: dict[str, Any] | None
    last_verify_at: str | None
    last_verify: dict[str, Any] | None


@dataclass
class DrainSummary:
    """One drain of a replica's outbox."""

    copied: int = 0
    deleted: int = 0
    bytes: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def as_details(self) -> dict[str, Any]:
        return {
            "copied": self.copied,
            "deleted": self.deleted,
            "bytes": self.bytes,
            "failed": len(self.failed),
            "failures": [f"{key}: {why}" for key, why in self.failed[:_EXAMPLES]],
            "seconds": round(self.seconds, 3),
        }


def primary_url(hub: Hub) -> str:
    """The store that takes the hub's writes first, complete in every phase of a move."""
    from passerelle.live.binding import current_binding
    from passerelle.live.phases import route

    return route(current_binding(hub)).writes[0]


def _row(session: Session, name: str) -> Replica:
    from sqlalchemy import select

    from passerelle.hub.tables import Replica

    row = session.execute(select(Replica).where(Replica.name == name)).scalar_one_or_none()
    if row is None:
        raise NotFoundError(
            f"no replica named {name!r}; `passerelle hub replica list` shows the hub's replicas"
        )
    return row


def _iso(at: Any) -> str | None:
    return at.isoformat() if at is not None else None


def _statuses(hub: Hub) -> list[ReplicaStatus]:
    from sqlalchemy import select

    from passerelle.hub.tables import Replica
    from passerelle.live.replica_outbox import Backlog, backlogs

    behind = backlogs(hub)
    now = hub.now().timestamp()
    with hub.db.read() as session:
        rows = session.execute(select(Replica).order_by(Replica.name)).scalars()
        return [_status(r, behind.get(r.id, Backlog(0, 0, None)), now) for r in rows]


def _status(row: Replica, behind: Backlog, now: float) -> ReplicaStatus:
    lag_s = max(0.0, now - behind.oldest_at) if behind.oldest_at is not None else 0.0
    return ReplicaStatus(
        row.id,
        row.name,
        row.url,
        row.created_at.isoformat(),
        behind.objects,
        behind.bytes,
        round(lag_s, 3),
        _iso(row.last_pass_at),
        row.last_pass,
        _iso(row.last_verify_at),
        row.last_verify,
    )


def _names(hub: Hub) -> tuple[str, ...]:
    from sqlalchemy import select

    from passerelle.hub.tables import Replica

    with hub.db.read() as session:
        return tuple(session.execute(select(Replica.name).order_by(Replica.name)).scalars())


def replica_statuses(hub: Hub, actor: Principal | None = None) -> list[ReplicaStatus]:
    """Every replica with its lag. With ``actor`` (operators, admins, auditors) the read
    is authorized and audited; without, it is the hub's own read (``/metrics``)."""
    if actor is not None:
        from passerelle.live.mover import watching_action

        with hub.transaction() as session:
            authorize(
                hub,
                session,
                actor,
                watching_action(actor, hub.now().date()),
                "hub:replicas",
                {"step": "status"},
            )
    return _statuses(hub)


def add_replica(
    hub: Hub,
    actor: Principal,
    url: str,
    *,
    name: str,
    require: tuple[str, ...] = (),
    adopt: bool = False,
) -> ReplicaStatus:
    """Register ``url`` as a replica named ``name`` (operators, admins), after the same
    policy checks as a move's destination; audited either way. A store that already holds
    objects is refused unless ``adopt``: the replica's passes overwrite and delete there."""
    from sqlalchemy import select

    from passerelle.hub.tables import Replica
    from passerelle.live.destinations import refuse_undeclared
    from passerelle.live.mover import enforce_policy
    from passerelle.live.store_overlap import refuse_overlap
    from passerelle.migration.planner import _check_destination
    from passerelle.storage.keys import REPLICA, check_name
    from passerelle.storage.urls import parse_store_url

    check_name(name, REPLICA)
    url = str(parse_store_url(hub.config.resolve_url(url)))
    with hub.transaction() as session:
        authorize(hub, session, actor, Action.MIGRATION_RUN, f"hub:replica:{name}", {"url": url})
        if session.execute(select(Replica).where(Replica.name == name)).first():
            raise ConflictError(f"a replica named {name!r} exists; choose another name")
        try:
            refuse_overlap(hub, session, url, "the replica")
            refuse_undeclared(hub.config, url, "the replica")
        except (ConflictError, PermissionDeniedError) as exc:
            _audit(hub, session, actor, "hub.replica.add", name, "denied", {"reason": str(exc)})
            session.commit()
            raise
        try:
            _check_destination(url, require, None)
        except PolicyViolationError:
            _audit(hub, session, actor, "hub.replica.add", name, "denied", {"url": url})
            session.commit()
            raise
        enforce_policy(hub, session, actor, url, "hub.replica.add")
    store = hub.open_url(url)
    store.create_container()
    if not adopt and next(iter(store.list(page_size=1)), None) is not None:
        raise ConflictError(
            f"{url} already holds objects, which the replica's passes would overwrite or "
            "delete; name an empty store, or add --adopt to let the replica take it over"
        )
    with hub.transaction() as session:
        session.add(Replica(name=name, url=url, created_at=hub.now(), user_id=actor.user_id))
        _audit(hub, session, actor, "hub.replica.add", name, "allowed", {"url": url})
    hub.replica_noter().invalidate()
    return next(s for s in _statuses(hub) if s.name == name)


def remove_replica(hub: Hub, actor: Principal, name: str) -> None:
    """Stop keeping ``name`` current (its copy is left where it is); audited."""
    from sqlalchemy import delete

    from passerelle.hub.tables import ReplicaChange
    from passerelle.storage.keys import REPLICA, check_name

    check_name(name, REPLICA)  # before the audit: a name no replica has is no event
    with hub.transaction() as session:
        authorize(hub, session, actor, Action.MIGRATION_RUN, f"hub:replica:{name}", {})
        row = _row(session, name)
        session.execute(delete(ReplicaChange).where(ReplicaChange.replica_id == row.id))
        url = row.url
        session.delete(row)
        _audit(hub, session, actor, "hub.replica.remove", name, "allowed", {"url": url})
    hub.replica_noter().invalidate()


def _audit(
    hub: Hub,
    session: Session,
    actor: Principal,
    action: str,
    name: str,
    decision: str,
    details: dict[str, Any],
) -> None:
    append_event(
        hub,
        session,
        actor=actor.name,
        action=action,
        target=f"hub:replica:{name}",
        decision=decision,
        details=details,
    )


@dataclass(frozen=True)
class ReplicaTarget:
    """A replica as the copy needs it: plain values read once."""

    id: int
    name: str
    url: str


def authorized_target(
    hub: Hub, actor: Principal, name: str, action: Action, step: str
) -> ReplicaTarget:
    from passerelle.storage.keys import REPLICA, check_name

    check_name(name, REPLICA)  # before the audit: a name no replica has is no event
    with hub.transaction() as session:
        authorize(hub, session, actor, action, f"hub:replica:{name}", {"step": step})
        return _target(hub, session, _row(session, name))


def _lookup(hub: Hub, name: str) -> ReplicaTarget:
    """The replica ``name`` without an authorization (the caller was authorized once)."""
    with hub.db.read() as session:
        return _target(hub, session, _row(session, name))


def _target(hub: Hub, session: Session, row: Replica) -> ReplicaTarget:
    """``row`` as a target, refused while it overlaps one of the hub's own stores: a move
    to the replica makes it the hub's store, and its passes would copy the hub onto
    itself (the move keeps it current meanwhile), or when hub.toml's ``destinations`` no
    longer include it."""
    from passerelle.live.destinations import refuse_undeclared
    from passerelle.live.store_overlap import refuse_overlap

    refuse_overlap(
        hub,
        session,
        row.url,
        f"the replica {row.name!r}",
        replicas=False,
        then=(
            "it is not copied to while a move goes to it; once the move is finished "
            f"`passerelle hub replica remove {row.name}`"
        ),
    )
    refuse_undeclared(hub.config, row.url, f"the replica {row.name!r}")
    return ReplicaTarget(row.id, row.name, row.url)


def drain(hub: Hub, target: ReplicaTarget, *, stop: threading.Event | None = None) -> DrainSummary:
    """Copy every key the outbox holds for ``target`` as the hub's store has it now (or
    delete it there when the hub's store no longer has it). Keys that fail stay in the
    outbox for the next drain; each drain goes through the outbox once."""
    from passerelle.errors import ObjectNotFoundError
    from passerelle.live.binding import live_store
    from passerelle.live.mover import ciphertext_rules
    from passerelle.live.replica_outbox import pending_keys, settle
    from passerelle.migration.copy import stream_copy
    from passerelle.sovereignty.ciphertext_guard import guard_source

    started = time.perf_counter()
    summary = DrainSummary()
    src = guard_source(live_store(hub), ciphertext_rules(hub, target.url))
    dst = hub.open_url(target.url)

    def one(key: str) -> tuple[str, int]:
        try:
            result = stream_copy(src, key, dst, md5=False)
        except ObjectNotFoundError:
            with contextlib.suppress(ObjectNotFoundError):
                dst.delete(key)
            return "deleted", 0
        return "copied", result.size

    after = 0
    with ThreadPoolExecutor(max_workers=_DRAIN_THREADS) as pool:
        while not (stop is not None and stop.is_set()):
            batch = pending_keys(hub, target.id, _DRAIN_BATCH, after_id=after)
            if not batch:
                break
            after = max(first for _, _, first in batch)
            futures = [(key, newest, pool.submit(one, key)) for key, newest, _ in batch]
            done: list[tuple[str, int]] = []
            for key, newest, future in futures:
                try:
                    outcome, size = future.result()
                except PasserelleError as exc:
                    summary.failed.append((key, str(exc)))
                    continue
                done.append((key, newest))
                if outcome == "copied":
                    summary.copied += 1
                    summary.bytes += size
                else:
                    summary.deleted += 1
            settle(hub, target.id, done)
    summary.seconds = time.perf_counter() - started
    return summary


def sync_replica(
    hub: Hub,
    actor: Principal,
    name: str,
    *,
    full_pass: bool = True,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Drain the outbox, then (``full_pass``) an incremental pass; audited with both."""
    from passerelle.live.mover import RESEARCH_FIRST
    from passerelle.live.research_latency import research_pacer

    target = authorized_target(hub, actor, name, Action.MIGRATION_RUN, "sync")
    drained = drain(hub, target, stop=stop)
    details: dict[str, Any] = {"drain": drained.as_details()}
    if full_pass and not (stop is not None and stop.is_set()):
        details["pass"] = incremental_pass(
            hub, target, stop=stop, pacer=research_pacer(hub, RESEARCH_FIRST)
        )
    with hub.transaction() as session:
        _audit(hub, session, actor, "hub.replica.sync", name, "allowed", details)
    return details


def verify_replica(hub: Hub, actor: Principal, name: str, *, deep: bool = True) -> dict[str, Any]:
    """Prove the replica holds the hub's store: its journal's digests checked on the
    replica (``deep``: every object re-read and hashed), and each object that differs from
    the journal (written since its last pass) hashed on both sides now. Operators, admins
    and auditors; audited with the answer."""
    from passerelle.live.mover import watching_action

    action = watching_action(actor, hub.now().date())
    target = authorized_target(hub, actor, name, action, "verify")
    details = prove(hub, target, deep=deep)
    record(hub, target, "verify", details)
    with hub.transaction() as session:
        _audit(hub, session, actor, "hub.replica.verify", name, "allowed", details)
    return details


def follow_replicas(
    hub: Hub,
    actor: Principal,
    stop: threading.Event,
    *,
    names: tuple[str, ...] = (),
    pass_every_s: float = 3600.0,
    idle_s: float = 1.0,
    on_round: Callable[[str, dict[str, Any]], None] | None = None,
    who: Callable[[], Principal] | None = None,
) -> None:
    """Keep replicas current until ``stop``: drain each outbox as writes arrive, and run an
    incremental pass on each every ``pass_every_s`` (the first at once). ``names``: these
    replicas (default: all, including ones added meanwhile). A failing round is reported
    to ``on_round`` and tried again; the follower itself stops on ``stop``, or once its
    actor may no longer run it.

    The actor is authorized (and audited) when the follower starts and before each pass;
    on every round ``who`` (the CLI: its token authenticated again) gives the actor as the
    hub knows them now, and the rules are asked without an event: a revoked token or a
    disabled user raises ``AuthenticationError``, lost roles an audited refusal, and the
    follower stops (it had run on for hours in their name). An idle follower polls the
    outbox every ``idle_s``."""
    from passerelle.live.mover import RESEARCH_FIRST
    from passerelle.live.research_latency import research_pacer

    last_pass: dict[str, float] = {}
    for name in names:  # a name given and not known fails here, at once
        authorized_target(hub, actor, name, Action.MIGRATION_RUN, "follow")
    while not stop.is_set():
        actor = _still_allowed(hub, who() if who is not None else actor)
        wanted = names or _names(hub)
        moved = 0
        for name in wanted:
            if stop.is_set():
                break
            details: dict[str, Any] = {}
            changed = 0
            try:
                due = time.monotonic() - last_pass.get(name, -pass_every_s) >= pass_every_s
                if due:
                    target = authorized_target(hub, actor, name, Action.MIGRATION_RUN, "follow")
                else:
                    target = _lookup(hub, name)
                drained = drain(hub, target, stop=stop)
                changed = drained.copied + drained.deleted
                moved += changed
                details["drain"] = drained.as_details()
                if due and not stop.is_set():
                    pacer = research_pacer(hub, RESEARCH_FIRST)
                    details["pass"] = incremental_pass(hub, target, stop=stop, pacer=pacer)
                    last_pass[name] = time.monotonic()
            except PasserelleError as exc:
                details = {"error": str(exc)}
                # tried again in a minute (or at the next pass), not on every round
                last_pass[name] = time.monotonic() - pass_every_s + min(pass_every_s, 60.0)
            if on_round is not None and (changed or "pass" in details or "error" in details):
                on_round(name, details)
        if not moved:
            stop.wait(idle_s)


def _still_allowed(hub: Hub, actor: Principal) -> Principal:
    """``actor`` if the rules still let them keep replicas current (asked without an
    event); else the refusal, audited once, raised."""
    from passerelle.hub.rules import decide

    if not decide(actor, Action.MIGRATION_RUN, today=hub.now().date()).allowed:
        with hub.transaction() as session:
            authorize(hub, session, actor, Action.MIGRATION_RUN, "hub:replicas", {"step": "follow"})
    return actor
