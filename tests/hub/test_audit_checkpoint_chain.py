"""Numbered checkpoints as pure functions: every gap, fork, forgery and rollback is named."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.hub.audit_chain import GENESIS
from passerelle.hub.checkpoint_chain import (
    Checkpoint,
    check_checkpoints,
    public_key_hex,
    sign_checkpoint,
    signature_ok,
)
from tests.hub.test_audit_chain import KEY, build

PUBLIC = public_key_hex(KEY)


def series(n: int, every: int = 3, key: bytes = KEY) -> tuple[list[Checkpoint], dict[int, str]]:
    """``n`` checkpoints over a chain of ``n * every`` events, and the chain's hashes."""
    events = build(n * every)
    hashes = {e.seq: e.hash for e in events}
    out: list[Checkpoint] = []
    prev = GENESIS
    for number in range(1, n + 1):
        seq = number * every
        cp = sign_checkpoint(
            key, number=number, seq=seq, head_hash=hashes[seq], at=f"t{number}", prev=prev
        )
        out.append(cp)
        prev = cp.digest()
    return out, hashes


def check(
    stored: list[Checkpoint],
    hashes: dict[int, str],
    head: int,
    witnessed: list[Checkpoint] | None = None,
    numbers: list[int] | None = None,
) -> tuple[int | None, int | None, str]:
    """Check ``stored``; the witness lists ``numbers`` and gives back ``witnessed``."""
    seen = witnessed or []
    numbers = [cp.number for cp in seen] if numbers is None else numbers
    found = check_checkpoints(PUBLIC, stored, seen, numbers, hashes, head)
    return (found.number, found.seq, found.problem) if found else (None, None, "")


def test_an_intact_series_passes() -> None:
    cps, hashes = series(5)
    assert check(cps, hashes, 15, witnessed=cps) == (None, None, "")


def test_the_public_key_checks_and_a_wrong_one_does_not() -> None:
    cps, _ = series(2)
    assert all(signature_ok(PUBLIC, cp) for cp in cps)
    assert not signature_ok(public_key_hex(b"o" * 32), cps[0])
    assert not signature_ok("zz", cps[0])  # not hex: refused, not an exception


def test_round_trip_and_malformed_files() -> None:
    cp = series(1)[0][0]
    assert Checkpoint.from_json(cp.to_json()) == cp
    for bad in ("[]", "{}", '{"format": "x"}', "not json", b"\xff\xfe"):
        try:
            Checkpoint.from_json(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was taken for a checkpoint")
    data = cp.to_dict() | {"number": "1"}
    import json

    try:
        Checkpoint.from_json(json.dumps(data))
    except ValueError:
        pass
    else:
        raise AssertionError("a number as a string was accepted")


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 8), data=st.data())
def test_a_deleted_checkpoint_is_named(n: int, data: st.DataObject) -> None:
    cps, hashes = series(n)
    gone = data.draw(st.integers(1, n - 1))  # not the newest: that leaves no hole
    kept = [cp for cp in cps if cp.number != gone]
    number, _, problem = check(kept, hashes, n * 3)
    assert number == gone and f"checkpoint {gone} is missing" in problem


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), data=st.data())
def test_deleting_the_newest_files_is_caught_by_the_witness(n: int, data: st.DataObject) -> None:
    cps, hashes = series(n + 2)
    cut = data.draw(st.integers(1, 2))
    every = list(range(1, n + 3))  # the witness lists every number, returns the newest
    stored = cps[: n + 2 - cut]
    number, _, problem = check(stored, hashes, (n + 2) * 3, witnessed=cps[-1:], numbers=every)
    assert number == n + 3 - cut and "witnessed but is missing" in problem


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), cut=st.integers(1, 3))
def test_a_database_behind_the_witnessed_head_fails(n: int, cut: int) -> None:
    cps, hashes = series(n)
    head = n * 3 - cut  # tail events deleted, or an older copy restored
    number, seq, problem = check(cps, hashes, head, witnessed=cps[-1:])
    assert number == n and seq == head + 1
    assert "witnessed checkpoint" in problem and "older copy" in problem


def test_rollback_with_the_checkpoint_files_rolled_back_too() -> None:
    """The person with the database restores an old copy and deletes the newer files."""
    cps, hashes = series(4)
    number, _, problem = check(cps[:2], hashes, 6, witnessed=cps[-1:], numbers=[1, 2, 3, 4])
    assert number == 3 and "witnessed but is missing" in problem


def test_a_rewritten_event_under_a_checkpoint() -> None:
    cps, hashes = series(3)
    hashes[6] = "e" * 64
    number, seq, problem = check(cps, hashes, 9)
    assert (number, seq) == (2, 6) and "rewritten" in problem


def test_forged_and_relinked_checkpoints() -> None:
    cps, hashes = series(3)
    forged = sign_checkpoint(
        b"attacker" * 4, number=4, seq=9, head_hash=hashes[9], at="t", prev=cps[2].digest()
    )
    number, _, problem = check([*cps, forged], hashes, 9)
    assert number == 4 and "bad signature" in problem
    edited = dataclasses.replace(cps[1], seq=3)  # same signature, other body
    number, _, problem = check([cps[0], edited, cps[2]], hashes, 9)
    assert number == 2 and "bad signature" in problem
    orphan = sign_checkpoint(KEY, number=3, seq=9, head_hash=hashes[9], at="t", prev="a" * 64)
    number, _, problem = check([*cps[:2], orphan], hashes, 9)
    assert number == 3 and "does not follow checkpoint 2" in problem
    first = sign_checkpoint(KEY, number=1, seq=3, head_hash=hashes[3], at="t", prev="a" * 64)
    number, _, problem = check([first], hashes, 9)
    assert number == 1 and "does not follow" in problem


def test_a_store_copy_that_differs_from_the_witnessed_one() -> None:
    """Two checkpoints with one number (a fork): the store's is not the witnessed one."""
    cps, hashes = series(3)
    fork = sign_checkpoint(
        KEY, number=3, seq=8, head_hash=hashes[8], at="t3-fork", prev=cps[1].digest()
    )
    number, _, problem = check([*cps[:2], fork], hashes, 9, witnessed=[cps[2]])
    assert number == 3 and "differs from the witnessed one" in problem


def test_a_witnessed_head_of_another_hub_is_refused() -> None:
    cps, hashes = series(2)
    other, _ = series(2, key=b"q" * 32)
    number, _, problem = check(cps, hashes, 6, witnessed=[other[1]])
    assert number == 2 and "in the witness has a bad signature" in problem
