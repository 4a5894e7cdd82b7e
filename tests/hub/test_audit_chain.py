"""The hash chain as pure functions: any edit, deletion, insertion or reorder is named."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.hub.audit_chain import (
    GENESIS,
    ChainEvent,
    check_checkpoints,
    event_hash,
    sign_checkpoint,
    verify_chain,
)

KEY = b"k" * 32


def build(n: int, key: bytes = KEY) -> list[ChainEvent]:
    events, prev = [], GENESIS
    for seq in range(1, n + 1):
        fields = dict(
            seq=seq,
            at=f"2026-01-01T00:00:{seq:02d}",
            actor=f"u{seq % 3}",
            action="dataset.read-entry",
            target=f"dataset:{seq}",
            decision="allowed",
            details="{}",
            prev_hash=prev,
        )
        h = event_hash(key, **fields)  # type: ignore[arg-type]
        events.append(ChainEvent(**fields, hash=h))  # type: ignore[arg-type]
        prev = h
    return events


def test_intact_chain_verifies() -> None:
    report = verify_chain(KEY, build(20))
    assert report.ok and report.events == 20 and report.head_seq == 20


def test_wrong_key_fails_at_the_first_event() -> None:
    report = verify_chain(b"x" * 32, build(5))
    assert not report.ok and report.first_bad_seq == 1


@settings(max_examples=60, deadline=None)
@given(n=st.integers(3, 30), data=st.data())
def test_modification_is_named(n: int, data: st.DataObject) -> None:
    events = build(n)
    i = data.draw(st.integers(0, n - 1))
    field = data.draw(st.sampled_from(["actor", "action", "target", "decision", "details", "at"]))
    events[i] = dataclasses.replace(events[i], **{field: getattr(events[i], field) + "x"})
    report = verify_chain(KEY, events)
    assert not report.ok and report.first_bad_seq == i + 1


@settings(max_examples=60, deadline=None)
@given(n=st.integers(3, 30), data=st.data())
def test_deletion_is_named(n: int, data: st.DataObject) -> None:
    events = build(n)
    i = data.draw(st.integers(0, n - 2))
    del events[i]
    report = verify_chain(KEY, events)
    assert not report.ok and report.first_bad_seq == i + 1


@settings(max_examples=60, deadline=None)
@given(n=st.integers(3, 30), data=st.data())
def test_reorder_is_named(n: int, data: st.DataObject) -> None:
    events = build(n)
    i = data.draw(st.integers(0, n - 2))
    events[i], events[i + 1] = events[i + 1], events[i]
    report = verify_chain(KEY, events)
    assert not report.ok and report.first_bad_seq == i + 1


def test_insertion_with_renumbering_and_a_forged_hash_is_named() -> None:
    events = build(6)
    forged_fields = dict(
        seq=4,
        at="2026-01-01T00:00:03",
        actor="mallory",
        action="grant.create",
        target="project:1",
        decision="allowed",
        details="{}",
        prev_hash=events[2].hash,
    )
    forged = ChainEvent(**forged_fields, hash=event_hash(b"guess" * 7, **forged_fields))  # type: ignore[arg-type]
    shifted = [dataclasses.replace(e, seq=e.seq + 1) for e in events[3:]]
    report = verify_chain(KEY, [*events[:3], forged, *shifted])
    assert not report.ok and report.first_bad_seq == 4


def test_truncation_is_caught_by_a_checkpoint() -> None:
    events = build(10)
    cps = [sign_checkpoint(KEY, 10, events[-1].hash, "t")]
    truncated = events[:7]
    report = verify_chain(KEY, truncated)
    assert report.ok  # the chain alone cannot see a cut tail...
    bad, problem = check_checkpoints(KEY, cps, {e.seq: e.hash for e in truncated}, report.head_seq)
    assert bad == 8 and "deleted from the tail" in problem  # ...the checkpoint does


def test_whole_chain_replaced_is_caught_by_a_checkpoint() -> None:
    original = build(10)
    cps = [sign_checkpoint(KEY, 5, original[4].hash, "t")]
    other_key_chain = build(10, key=b"z" * 32)  # rebuilt by someone without our key
    bad, problem = check_checkpoints(KEY, cps, {e.seq: e.hash for e in other_key_chain}, 10)
    assert bad == 5 and "rewritten" in problem


def test_forged_checkpoint_is_refused() -> None:
    cp = sign_checkpoint(b"wrong" * 7, 3, "ab" * 32, "t")
    bad, problem = check_checkpoints(KEY, [cp], {3: "ab" * 32}, 3)
    assert bad == 3 and "signature" in problem
