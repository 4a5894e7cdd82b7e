"""Checkpoint signing now checks the chain before the audit lock: races between signers
(threads of one process, or the processes of ``serve --workers``) must neither fork the
checkpoint line nor raise a false tampering alarm in the audit log."""

from __future__ import annotations

from typing import Any

import pytest

from passerelle.hub import checkpoints
from passerelle.hub.audit import append_event, verify_audit, write_checkpoint
from passerelle.hub.hub import Hub
from tests.hub.conftest import Cast
from tests.hub.test_audit_tamper import activity


def _append(hub: Hub, n: int) -> None:
    """Events appended the way any action appends them (without an automatic checkpoint)."""
    with hub.db.transaction() as session:
        for _ in range(n):
            append_event(
                hub, session, actor="probe", action="probe", target="t", decision="allowed"
            )


def test_a_checkpoint_signed_by_another_signer_after_the_head_was_read_is_no_tampering(
    cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signer B reads the head, then another signer A appends and numbers the next
    checkpoint before B lists the checkpoints: B's anchor is newer than the head it read.
    That is an ordinary race, not "events deleted or the database restored"."""
    activity(cast, 1)
    assert write_checkpoint(cast.hub) is not None
    _append(cast.hub, 2)
    original = checkpoints.stored_view
    raced: list[Any] = []

    def another_signer_meanwhile(hub: Hub, witness: Any) -> Any:
        if not raced:
            raced.append(None)
            _append(hub, 3)
            raced.append(write_checkpoint(hub))  # A, all the way through
        return original(hub, witness)

    monkeypatch.setattr(checkpoints, "stored_view", another_signer_meanwhile)
    signed = write_checkpoint(cast.hub)  # B: must not refuse
    assert raced[1] is not None and signed is not None
    assert signed.number >= raced[1].number
    assert verify_audit(cast.hub).ok


def test_that_race_under_checkpoint_if_due_writes_no_false_tampering_event(
    cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import select

    from passerelle.hub.tables import AuditEvent

    activity(cast, 1)
    assert write_checkpoint(cast.hub) is not None
    _append(cast.hub, cast.hub.config.checkpoint_every)
    original = checkpoints.stored_view
    raced: list[Any] = []

    def another_signer_meanwhile(hub: Hub, witness: Any) -> Any:
        if not raced:
            raced.append(None)
            _append(hub, 3)
            raced.append(write_checkpoint(hub))
        return original(hub, witness)

    monkeypatch.setattr(checkpoints, "stored_view", another_signer_meanwhile)
    with cast.hub.db.read() as session:
        now_head = session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()))
    checkpoints.checkpoint_if_due(cast.hub, int(now_head))
    with cast.hub.db.read() as session:
        alarms = session.scalars(
            select(AuditEvent.details).where(
                AuditEvent.action == "audit.checkpoint", AuditEvent.decision == "denied"
            )
        ).all()
    assert list(alarms) == []


def test_a_signer_that_keeps_losing_the_race_raises_no_tampering_alarm(
    cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many signers due at once (every process and thread after ``checkpoint_minutes``):
    one that is beaten on each attempt gives up, but being outpaced is not tampering."""
    from sqlalchemy import select

    from passerelle.errors import ConflictError
    from passerelle.hub.tables import AuditEvent

    activity(cast, 1)
    monkeypatch.setattr(checkpoints, "_numbered_after", lambda hub, anchor: True)
    with pytest.raises(Exception) as raised:
        write_checkpoint(cast.hub)
    assert not isinstance(raised.value, ConflictError)  # a retry, not a refusal
    assert getattr(raised.value, "retryable", False)
    with cast.hub.db.read() as session:
        seq = int(session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc())))
    checkpoints.checkpoint_if_due(cast.hub, seq + cast.hub.config.checkpoint_every)
    with cast.hub.db.read() as session:
        alarms = session.scalars(
            select(AuditEvent.details).where(
                AuditEvent.action == "audit.checkpoint", AuditEvent.decision == "denied"
            )
        ).all()
    assert list(alarms) == []
