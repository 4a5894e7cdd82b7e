"""Checkpoints from before numbering, still checked on hubs upgraded since.

Older hubs wrote ``<hub>/audit-checkpoints/<seq>.json`` holding the head's
position and hash signed with HMAC-SHA-256 under the audit key
(``checkpoint:{seq}:{hash}:{at}``). They are never written again, but ``audit
verify`` and the first numbered checkpoint still compare the chain with them, so
an upgrade does not forget what they saw.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from passerelle.hub.checkpoint_chain import CheckpointProblem

if TYPE_CHECKING:
    from passerelle.hub.hub import Hub

__all__ = ["LegacyCheckpoint", "legacy_problem", "read_legacy"]


@dataclass(frozen=True)
class LegacyCheckpoint:
    seq: int
    hash: str
    at: str
    signature: str


def read_legacy(hub: Hub) -> tuple[list[LegacyCheckpoint], list[str]]:
    """The old checkpoints in the checkpoint store, and the keys there that are not one."""
    store = hub.store("checkpoints")
    found, bad = [], []
    for info in store.list(f"{hub.config.name}/audit-checkpoints/"):
        try:
            data = json.loads(store.get(info.key).read())
            found.append(
                LegacyCheckpoint(
                    int(data["seq"]), str(data["hash"]), str(data["at"]), str(data["signature"])
                )
            )
        except (KeyError, TypeError, ValueError):
            bad.append(info.key)
    return found, bad


def legacy_problem(
    key: bytes, legacy: Iterable[LegacyCheckpoint], hash_at: Mapping[int, str], head_seq: int
) -> CheckpointProblem | None:
    """The first old checkpoint that is forged or that the chain no longer matches."""
    for cp in sorted(legacy, key=lambda c: c.seq):
        body = f"checkpoint:{cp.seq}:{cp.hash}:{cp.at}".encode()
        if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).hexdigest(), cp.signature):
            return CheckpointProblem(
                None, cp.seq, f"the old checkpoint at event {cp.seq} has a bad signature"
            )
        if cp.seq > head_seq:
            return CheckpointProblem(
                None,
                head_seq + 1,
                f"the log ends at event {head_seq} but the old checkpoint of {cp.at} saw event "
                f"{cp.seq}: events were deleted from the tail or an older copy restored",
            )
        if hash_at.get(cp.seq) != cp.hash:
            return CheckpointProblem(
                None, cp.seq, f"event {cp.seq} differs from the old checkpoint of {cp.at}"
            )
    return None
