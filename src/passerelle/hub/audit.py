"""The audit log: append, verify, checkpoint and export.

Every decision the hub takes is appended here by ``authorize`` (allowed and
denied alike) inside the same transaction as the action it guards. The chain
arithmetic is pure (``audit_chain``); this module only reads and writes rows and
checkpoint objects (``checkpoints``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from passerelle.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    UsageError,
    not_found,
)
from passerelle.hub.audit_chain import GENESIS, canonical_details, event_hash
from passerelle.hub.checkpoint_chain import Checkpoint
from passerelle.hub.checkpoints import APPENDED_SEQ, VerifyReport, verify_log, write_checkpoint
from passerelle.hub.rules import Action, Decision, Principal, decide
from passerelle.hub.tables import AuditEvent
from passerelle.storage.keys import ascii_number

if TYPE_CHECKING:
    from sqlalchemy import Insert, Select
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub

__all__ = [
    "TARGET_CHARS",
    "AuditFilter",
    "VerifyReport",
    "append_event",
    "authorize",
    "authorize_audit_read",
    "bounded_target",
    "deny",
    "export_events",
    "head_seq",
    "list_events",
    "resolve_dataset_id",
    "verify_audit",
    "write_checkpoint",
]

SYSTEM = "system"
_FIELDS = ["seq", "at", "actor", "action", "target", "decision", "details", "prev_hash", "hash"]


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="microseconds")


def append_event(
    hub: Hub,
    session: Session,
    *,
    actor: str,
    action: str,
    target: str,
    decision: str,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Append one event at the head of the chain (under the audit lock); its seq.

    Every request appends one, so its statements go to the session's connection as
    SQL Core (the ORM's unit of work and result objects cost more than the rest of a
    catalog read, and building an ``AuditEvent`` object for it cost a fifth of the
    append).
    """
    session.flush()  # the caller's pending changes go first, as the ORM's autoflush did
    hub.db.lock_audit(session)
    connection = session.connection()
    head = connection.execute(_head_statement()).first()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    fields: dict[str, Any] = {
        "seq": seq,
        "at": _iso(hub.now()),
        "actor": actor,
        "action": action,
        "target": bounded_target(target),
        "decision": decision,
        "details": canonical_details(details or {}),
        "prev_hash": prev,
    }
    row = {**fields, "hash": event_hash(hub.keys.key("audit"), **fields)}
    connection.execute(_insert_statement(), row)
    session.info[APPENDED_SEQ] = seq  # Hub.transaction checks for a due checkpoint after
    return seq


TARGET_CHARS = 200  # the column's size


def bounded_target(target: str) -> str:
    """``target`` as the log keeps it: at most :data:`TARGET_CHARS`, a longer one cut with
    its length said (a name typed by a caller reaches here before any check of it, and
    PostgreSQL refuses a longer value, which made the refusal itself fail)."""
    if len(target) <= TARGET_CHARS:
        return target
    marker = f"...({len(target)} chars)"
    return target[: TARGET_CHARS - len(marker)] + marker


def head_seq(session: Session) -> int:
    """The sequence number of the audit log's last event (0 when it is empty)."""
    row = session.execute(_head_statement()).first()
    return 0 if row is None else int(row[0])


@cache
def _head_statement() -> Select[int, str]:
    from sqlalchemy import select

    return select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)


@cache
def _insert_statement() -> Insert:
    from sqlalchemy import insert

    return insert(AuditEvent)


def authorize(
    hub: Hub,
    session: Session,
    actor: Principal,
    action: Action,
    target: str,
    details: Mapping[str, Any] | None = None,
    *,
    missing: NotFoundError | None = None,
    **facts: Any,
) -> Decision:
    """Decide, audit the decision, and raise (after committing the audit) when denied.

    A hidden refusal raises ``missing``: the service's own "not found" for what the
    caller asked (``errors.not_found``), so hidden and missing read the same.
    """
    decision = decide(actor, action, today=hub.now().date(), **facts)
    verdict = "allowed" if decision.allowed else "denied"
    payload = dict(details or {})
    if not decision.allowed:
        payload["reason"] = decision.reason
    append_event(
        hub,
        session,
        actor=actor.name,
        action=action,
        target=target,
        decision=verdict,
        details=payload,
    )
    if not decision.allowed:
        session.commit()
        if decision.hidden:
            kind, _, asked = target.partition(":")
            number = ascii_number(asked)
            raise missing or not_found(kind, asked if number is None else number)
        if decision.conflict:
            raise ConflictError(f"{decision.reason}; check its status first")
        raise PermissionDeniedError(f"permission denied: {decision.reason}")
    return decision


def deny(
    hub: Hub,
    session: Session,
    actor: Principal,
    action: str,
    target: str,
    reason: str,
    details: Mapping[str, Any] | None = None,
) -> NoReturn:
    """Audit a refusal decided outside ``rules`` (state checks), commit it, and raise."""
    append_event(
        hub,
        session,
        actor=actor.name,
        action=action,
        target=target,
        decision="denied",
        details={**(details or {}), "reason": reason},
    )
    session.commit()
    raise PermissionDeniedError(f"permission denied: {reason}")


def verify_audit(
    hub: Hub,
    actor: Principal | None = None,
    kept: Sequence[Checkpoint] = (),
    *,
    witness_url: str | None = None,
) -> VerifyReport:
    """Verify the whole chain, the numbered checkpoints, the witness and ``kept`` heads.

    Front-ends pass the caller, who must be allowed to read the trail (and the
    check is audited); ``None`` is the hub checking itself (demo, tests, cutover).
    ``witness_url`` is the witness the auditor knows, instead of hub.toml's.
    """
    if actor is not None:
        details: dict[str, object] = {"verify": True}
        if witness_url:
            details["witness"] = witness_url
        authorize_audit_read(hub, actor, details)
    return verify_log(hub, kept, witness_url=witness_url)


@dataclass(frozen=True)
class AuditFilter:
    """Which events to keep; every field given must match (``action`` ending in ``.``
    keeps a family, e.g. ``release.``)."""

    actor: str | None = None
    dataset: int | None = None
    project: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    action: str | None = None
    target: str | None = None
    decision: str | None = None

    def matches(self, e: AuditEvent) -> bool:
        if self.actor and e.actor != self.actor:
            return False
        if self.action and not (
            e.action == self.action
            or (self.action.endswith(".") and e.action.startswith(self.action))
        ):
            return False
        if self.target and e.target != self.target:
            return False
        if self.decision and e.decision != self.decision:
            return False
        if self.since and e.at < _iso(self.since):
            return False
        if self.until and e.at > _iso(self.until):
            return False
        for kind, wanted in (("dataset", self.dataset), ("project", self.project)):
            if wanted is not None and e.target != f"{kind}:{wanted}":
                details = json.loads(e.details)
                if details.get(kind) != wanted:
                    return False
        return True


def _event_dict(e: AuditEvent) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.at,
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "decision": e.decision,
        "details": json.loads(e.details),
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


def list_events(
    hub: Hub, actor: Principal, flt: AuditFilter, *, limit: int = 100, after: int = 0
) -> list[dict[str, Any]]:
    """A page of events (seq > after) for auditors and admins."""
    from sqlalchemy import select

    out: list[dict[str, Any]] = []
    with hub.transaction() as session:
        authorize(hub, session, actor, Action.AUDIT_READ, "audit", {"after": after})
        rows = session.execute(
            select(AuditEvent)
            .where(AuditEvent.seq > after)
            .order_by(AuditEvent.seq)
            .execution_options(yield_per=1000)
        )
        for (e,) in rows:
            if flt.matches(e):
                out.append(_event_dict(e))
                if len(out) >= limit:
                    break
    return out


def authorize_audit_read(hub: Hub, actor: Principal, details: Mapping[str, Any]) -> None:
    """Check (and audit) that ``actor`` may read the trail."""
    with hub.transaction() as session:
        authorize(hub, session, actor, Action.AUDIT_READ, "audit", details)


def resolve_dataset_id(hub: Hub, value: str | None) -> int | None:
    """A dataset filter given by id or by name (a name that never existed is an error)."""
    from sqlalchemy import select

    from passerelle.hub.tables import Dataset

    if value is None:
        return None
    number = ascii_number(value)
    if number is not None:
        return number
    with hub.db.transaction() as session:
        found = session.execute(select(Dataset.id).where(Dataset.name == value)).scalar()
    if found is None:
        raise UsageError(f"no dataset named {value!r}; give its id to filter on a removed one")
    return int(found)


def export_events(
    hub: Hub, actor: Principal, flt: AuditFilter, out: TextIO, fmt: str = "jsonl"
) -> int:
    """Write matching events as JSON lines or CSV; return how many."""
    from sqlalchemy import select

    from passerelle.spreadsheet_cells import safe_cell  # a CSV is opened in spreadsheets

    if fmt not in ("jsonl", "csv"):
        raise UsageError(f"unknown export format {fmt!r}: use jsonl or csv")
    count = 0
    with hub.transaction() as session:
        authorize(hub, session, actor, Action.AUDIT_READ, "audit", {"export": fmt})
        rows = session.execute(
            select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=2000)
        )
        writer = csv.DictWriter(out, fieldnames=_FIELDS) if fmt == "csv" else None
        if writer:
            writer.writeheader()
        for (e,) in rows:
            if not flt.matches(e):
                continue
            record = _event_dict(e)
            if writer is None:
                out.write(json.dumps(record, sort_keys=True) + "\n")
            else:
                record["details"] = json.dumps(record["details"], sort_keys=True)
                writer.writerow({k: safe_cell(v) for k, v in record.items()})
            count += 1
    return count
