"""The hub's checkpoint store as the database's holder finds it: planted, damaged, old files."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from passerelle.errors import ConflictError
from passerelle.hub.audit import verify_audit, write_checkpoint
from tests.hub.conftest import Cast
from tests.hub.test_audit_tamper import activity, head, raw

FOLDER = "test-hub/audit/checkpoints/"


def put(c: Cast, key: str, data: bytes) -> None:
    c.hub.store("checkpoints").put(key, data, size=len(data))


def test_a_planted_or_damaged_checkpoint_file_is_named(cast: Cast) -> None:
    activity(cast, 1)
    cp = write_checkpoint(cast.hub)
    assert cp is not None and verify_audit(cast.hub).ok
    put(cast, f"{FOLDER}{cp.number + 1:012d}.json", b'{"seq": 1}')  # not a checkpoint
    report = verify_audit(cast.hub)
    assert not report.ok and "is not a checkpoint (damaged or planted)" in report.problem
    with pytest.raises(ConflictError, match="damaged or forged"):
        write_checkpoint(cast.hub)
    cast.hub.store("checkpoints").delete(f"{FOLDER}{cp.number + 1:012d}.json")
    put(cast, f"{FOLDER}notes.txt", b"hello")
    report = verify_audit(cast.hub)
    assert not report.ok and "notes.txt" in report.problem
    cast.hub.store("checkpoints").delete(f"{FOLDER}notes.txt")
    assert verify_audit(cast.hub).ok


def legacy(c: Cast, seq: int, digest: str, at: str = "2026-05-01T00:00:00") -> None:
    """An unnumbered checkpoint as hubs wrote them before numbering (HMAC-signed)."""
    key = c.hub.keys.key("audit")
    body = f"checkpoint:{seq}:{digest}:{at}".encode()
    data = {"seq": seq, "hash": digest, "at": at}
    data["signature"] = hmac.new(key, body, hashlib.sha256).hexdigest()
    put(c, f"test-hub/audit-checkpoints/{seq:012d}.json", json.dumps(data).encode())


def event_hash_at(c: Cast, seq: int) -> str:
    from sqlalchemy import text

    with c.hub.db.engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": seq}
            ).scalar_one()
        )


def test_an_upgraded_hub_keeps_checking_its_old_checkpoints(cast: Cast) -> None:
    activity(cast)
    top = head(cast)
    legacy(cast, top, event_hash_at(cast, top))
    assert verify_audit(cast.hub).ok
    raw(cast, f"DELETE FROM audit_events WHERE seq > {top - 3}")  # cut under the old checkpoint
    report = verify_audit(cast.hub)
    assert not report.ok and "old checkpoint" in report.problem
    with pytest.raises(ConflictError, match="will not sign"):
        write_checkpoint(cast.hub)  # the first numbered checkpoint would launder the cut


def test_a_forged_old_checkpoint_is_named(cast: Cast) -> None:
    activity(cast, 1)
    top = head(cast)
    legacy(cast, top, event_hash_at(cast, top))
    path = f"test-hub/audit-checkpoints/{top:012d}.json"
    data = json.loads(cast.hub.store("checkpoints").get(path).read())
    data["seq"] = top + 50
    put(cast, path, json.dumps(data).encode())
    report = verify_audit(cast.hub)
    assert not report.ok and "bad signature" in report.problem
