"""Numbered, signed audit checkpoints and their checks, as pure functions.

A checkpoint records the head of the audit chain at one moment: its position
``seq`` and ``hash``. Checkpoints are numbered 1, 2, 3... without gaps, and
checkpoint ``n`` names the digest of checkpoint ``n - 1`` (``prev``; 64 zeros
for the first), so the series is itself a chain: a deleted checkpoint leaves a
hole ``check_checkpoints`` names. Each one is signed with Ed25519 under a key
derived from the hub's audit key; the public half is published with the head,
so a third party who keeps copies can check them without any secret.

The byte layout signed (version 1) is the compact JSON array::

    ["passerelle-audit-checkpoint/1", number, seq, hash, at, prev]

and a checkpoint's digest is SHA-256 of that layout followed by the signature
in hex (``digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FORMAT",
    "Checkpoint",
    "CheckpointProblem",
    "check_checkpoints",
    "public_key_hex",
    "sign_checkpoint",
    "sign_message",
    "signature_ok",
]

FORMAT = "passerelle-audit-checkpoint/1"
GENESIS = "0" * 64
_DERIVE = b"passerelle audit checkpoint signing key v1"


@dataclass(frozen=True)
class Checkpoint:
    """The head of the chain at one moment, numbered, linked and signed."""

    number: int
    seq: int
    hash: str
    at: str
    prev: str
    signature: str

    def body(self) -> bytes:
        fields = [FORMAT, self.number, self.seq, self.hash, self.at, self.prev]
        return json.dumps(fields, separators=(",", ":")).encode()

    def digest(self) -> str:
        """What the next checkpoint names as ``prev``."""
        return hashlib.sha256(self.body() + self.signature.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "number": self.number,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at,
            "prev": self.prev,
            "signature": self.signature,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Checkpoint:
        """Parse one checkpoint; ``ValueError`` when it is not one of this format."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError("not a version-1 checkpoint")
            number, seq = data["number"], data["seq"]
            if not isinstance(number, int) or not isinstance(seq, int) or number < 1 or seq < 0:
                raise ValueError("bad number or position")
            texts = [data[k] for k in ("hash", "at", "prev", "signature")]
            if not all(isinstance(t, str) for t in texts):
                raise ValueError("bad field")
        except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a checkpoint: {exc}") from None
        return cls(number, seq, *texts)


def _signing_key(audit_key: bytes) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    seed = hmac.new(audit_key, _DERIVE, hashlib.sha256).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_hex(audit_key: bytes) -> str:
    """The Ed25519 public key that checks this hub's checkpoints (hex, 32 bytes)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw: bytes = _signing_key(audit_key).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return raw.hex()


def sign_checkpoint(
    audit_key: bytes, *, number: int, seq: int, head_hash: str, at: str, prev: str
) -> Checkpoint:
    unsigned = Checkpoint(number, seq, head_hash, at, prev, "")
    signature = _signing_key(audit_key).sign(unsigned.body()).hex()
    return Checkpoint(number, seq, head_hash, at, prev, signature)


def sign_message(audit_key: bytes, message: bytes) -> str:
    """Sign other evidence (a migration certificate) with the same key, in hex.

    ``message`` must start with its own format tag (never a checkpoint's ``[``), so
    no signature made here can pass for a checkpoint's, nor the reverse.
    """
    if message.startswith(b"["):
        raise ValueError("a message signed with the checkpoint key needs its own format tag")
    return str(_signing_key(audit_key).sign(message).hex())


def signature_ok(public_key: str, cp: Checkpoint) -> bool:
    """Whether ``cp`` was signed by the holder of ``public_key`` (hex)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key)).verify(
            bytes.fromhex(cp.signature), cp.body()
        )
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class CheckpointProblem:
    """The first thing wrong: the checkpoint's number, the event it concerns, a sentence."""

    number: int | None
    seq: int | None
    problem: str


def _first_of(cps: Iterable[Checkpoint]) -> dict[int, Checkpoint]:
    found: dict[int, Checkpoint] = {}
    for cp in cps:
        found.setdefault(cp.number, cp)
    return found


def check_checkpoints(
    public_key: str,
    stored: Iterable[Checkpoint],
    witnessed: Iterable[Checkpoint],
    witnessed_numbers: Iterable[int],
    hash_at: Mapping[int, str],
    head_seq: int,
) -> CheckpointProblem | None:
    """Compare the checkpoint series with itself, its witness and the chain.

    ``stored`` are the checkpoints in the hub's store; ``witnessed`` the ones read
    back from the write-once witness (or kept by a third party), whose full list
    of numbers is ``witnessed_numbers``; ``hash_at`` maps a checkpoint's position
    to the hash the database holds there, and ``head_seq`` is the chain's head.
    """
    in_store, seen = _first_of(stored), _first_of(witnessed)
    for where, series in (("the hub's store", in_store), ("the witness", seen)):
        for n, cp in sorted(series.items()):
            if not signature_ok(public_key, cp):
                return CheckpointProblem(
                    n, cp.seq, f"checkpoint {n} in {where} has a bad signature (forged or damaged)"
                )
    for n, cp in sorted(seen.items()):
        mine = in_store.get(n)
        if mine is not None and mine != cp:
            return CheckpointProblem(
                n, cp.seq, f"checkpoint {n} in the hub's store differs from the witnessed one"
            )
    deleted = sorted(set(witnessed_numbers) - set(in_store))
    if deleted:
        n = deleted[0]
        return CheckpointProblem(
            n,
            seen[n].seq if n in seen else None,
            f"checkpoint {n} was witnessed but is missing from the hub's checkpoint store: "
            "checkpoint files were deleted",
        )
    series = {**in_store, **seen}
    newest = max(series, default=0)
    for n in range(1, newest + 1):
        if n not in series:
            return CheckpointProblem(
                n, None, f"checkpoint {n} is missing (checkpoints run to {newest}): it was deleted"
            )
        prev = series[n - 1].digest() if n > 1 else GENESIS
        if series[n].prev != prev:
            return CheckpointProblem(
                n, series[n].seq, f"checkpoint {n} does not follow checkpoint {n - 1}"
            )
    for n in range(1, newest + 1):
        cp = series[n]
        source = "witnessed checkpoint" if n in seen else "checkpoint"
        if cp.seq > head_seq:
            return CheckpointProblem(
                n,
                head_seq + 1,
                f"the log ends at event {head_seq} but {source} {n} of {cp.at} saw event "
                f"{cp.seq}: events were deleted from the tail or the database was restored "
                "from an older copy",
            )
        if hash_at.get(cp.seq) != cp.hash:
            return CheckpointProblem(
                n,
                cp.seq,
                f"event {cp.seq} differs from {source} {n} of {cp.at}: the log was rewritten "
                "(events deleted and others written in their place, or an older copy restored)",
            )
    return None
