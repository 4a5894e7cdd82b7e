"""The audit log's hash chain, as pure functions.

Each event carries ``prev_hash`` (the previous event's hash, or 64 zeros for the
first) and ``hash = HMAC-SHA-256(key, canonical(event))``, where the canonical
form is the JSON array of every field including ``seq`` and ``prev_hash``. Without
the hub's audit key nobody can forge a hash, so any edit, deletion, insertion or
reordering breaks the chain at a position ``verify_chain`` names. Truncating the
tail or replacing the whole database with an older copy keeps a valid chain;
``check_checkpoints`` catches those by comparing it with signed checkpoints (the
head's position and hash) kept outside the database, in object storage.
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
    "Checkpoint",
    "check_checkpoints",
    "event_hash",
    "sign_checkpoint",
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
class Checkpoint:
    """The head of the chain at one moment, signed with the audit key."""

    seq: int
    hash: str
    at: str
    signature: str

    def to_json(self) -> str:
        return json.dumps(
            {"seq": self.seq, "hash": self.hash, "at": self.at, "signature": self.signature},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Checkpoint:
        data = json.loads(text)
        return cls(int(data["seq"]), str(data["hash"]), str(data["at"]), str(data["signature"]))


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


def verify_chain(key: bytes, events: Iterable[ChainEvent]) -> ChainReport:
    """Walk events in stored order; name the first one that breaks the chain."""
    expected_seq, prev, count = 1, GENESIS, 0
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


def sign_checkpoint(key: bytes, seq: int, head_hash: str, at: str) -> Checkpoint:
    body = f"checkpoint:{seq}:{head_hash}:{at}".encode()
    return Checkpoint(seq, head_hash, at, hmac.new(key, body, hashlib.sha256).hexdigest())


def check_checkpoints(
    key: bytes, checkpoints: Iterable[Checkpoint], hash_at: Mapping[int, str], head_seq: int
) -> tuple[int | None, str]:
    """Compare signed checkpoints with the chain; return (first bad seq, problem) or (None, "").

    ``hash_at`` maps a checkpoint's position to the hash the database holds there.
    """
    for cp in sorted(checkpoints, key=lambda c: c.seq):
        expected = sign_checkpoint(key, cp.seq, cp.hash, cp.at).signature
        if not hmac.compare_digest(expected, cp.signature):
            return cp.seq, f"checkpoint at event {cp.seq} has a bad signature (forged or damaged)"
        if cp.seq > head_seq:
            return head_seq + 1, (
                f"the log ends at event {head_seq} but a checkpoint of {cp.at} saw event {cp.seq}: "
                "events were deleted from the tail"
            )
        if hash_at.get(cp.seq) != cp.hash:
            return cp.seq, (
                f"event {cp.seq} differs from the checkpoint of {cp.at}: the log was rewritten"
            )
    return None, ""
