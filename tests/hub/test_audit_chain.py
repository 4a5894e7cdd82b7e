"""The hash chain as pure functions: any edit, deletion, insertion or reorder is named."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.hub.audit_chain import (
    GENESIS,
    ChainEvent,
    event_hash,
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


def test_a_walk_from_a_trusted_event_checks_only_what_follows() -> None:
    events = build(10)
    report = verify_chain(KEY, events[6:], after_seq=6, after_hash=events[5].hash)
    assert report.ok and report.head_seq == 10 and report.events == 4
    report = verify_chain(KEY, events[7:], after_seq=6, after_hash=events[5].hash)
    assert not report.ok and report.first_bad_seq == 7 and "missing" in report.problem
    report = verify_chain(KEY, events[6:], after_seq=6, after_hash="f" * 64)
    assert not report.ok and report.first_bad_seq == 7
