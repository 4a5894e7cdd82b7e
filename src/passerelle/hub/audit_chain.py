"""The audit log's hash chain, as pure functions.

Each event carries ``prev_hash`` (the previous event's hash, or 64 zeros for the
first) and ``hash = HMAC-SHA-256(key, canonical(event))``, where the canonical
form is the JSON array of every field including ``seq`` and ``prev_hash``. Without
the hub's audit key nobody can forge a hash, so any edit, deletion, insertion or
reordering breaks the chain at a position ``verify_chain`` names. Truncating the
tail or replacing the whole database with an older copy keeps a valid chain;
``checkpoint_chain`` catches those by comparing it with numbered, signed
checkpoints of the head kept outside the database and witnessed write-once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GENESIS",
    "ChainEvent",
    "ChainReport",
    "event_hash",
    "verify_chain",
]

GENESIS = "0" * 64


@dataclass(frozen=True)
class ChainEvent:
    """One audit event as stored."""

    seq: int
    at: str
    actor: str
    action: str
    target: str
    decision: str
    details: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainReport:
    """What ``verify_chain`` (and the checkpoint check) found."""

    ok: bool
    events: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str = ""


def canonical_details(details: Mapping[str, Any]) -> str:
    return json.dumps(details, sort_keys=True, separators=(",", ":"), default=str)


def event_hash(
    key: bytes,
    *,
    seq: int,
    at: str,
    actor: str,
    action: str,
    target: str,
    decision: str,
    details: str,
    prev_hash: str,
) -> str:
    """HMAC-SHA-256 of the event's canonical form."""
    body = json.dumps(
        [seq, at, actor, action, target, decision, details, prev_hash],
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def _recompute(key: bytes, e: ChainEvent) -> str:
    return event_hash(
        key,
        seq=e.seq,
        at=e.at,
        actor=e.actor,
        action=e.action,
        target=e.target,
        decision=e.decision,
        details=e.details,
        prev_hash=e.prev_hash,
    )


def verify_chain(
    key: bytes, events: Iterable[ChainEvent], *, after_seq: int = 0, after_hash: str = GENESIS
) -> ChainReport:
    """Walk events in stored order; name the first one that breaks the chain.

    ``after_seq``/``after_hash`` start the walk after a trusted event (a witnessed
    checkpoint's head), so only the events after it are given and checked.
    """
    expected_seq, prev, count = after_seq + 1, after_hash, 0
    for e in events:
        count += 1
        problem = ""
        if e.seq != expected_seq:
            what = "missing (deleted)" if e.seq > expected_seq else "out of order or duplicated"
            problem = f"event {expected_seq} is {what}: found event {e.seq} in its place"
        elif e.prev_hash != prev:
            problem = f"event {e.seq} does not follow event {e.seq - 1} (inserted or reordered)"
        elif not hmac.compare_digest(_recompute(key, e), e.hash):
            problem = f"event {e.seq} was modified after it was written (its hash does not match)"
        if problem:
            return ChainReport(
                False, count, expected_seq - 1, prev, min(e.seq, expected_seq), problem
            )
        prev, expected_seq = e.hash, expected_seq + 1
    return ChainReport(True, count, expected_seq - 1, prev)
