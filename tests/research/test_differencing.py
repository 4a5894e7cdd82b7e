"""Differencing sketches: exact up to k persons, and one person out is always caught."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.research.disclosure.derive import SKETCH_SIZE
from passerelle.research.disclosure.differencing import (
    PersonSketch,
    decode_sketch,
    encode_sketch,
    population_difference,
    too_close,
)

KEY = b"k" * 32


def keyed(person: str) -> int:
    return int(hmac.new(KEY, person.encode(), hashlib.sha256).hexdigest()[:16], 16)


def sketch(persons: set[str], k: int = SKETCH_SIZE) -> PersonSketch:
    hashes = sorted(keyed(p) for p in persons)
    fingerprint = 0
    for h in hashes:
        fingerprint ^= h
    return PersonSketch(len(hashes), fingerprint, tuple(hashes[:k]))


people = st.sets(st.integers(0, 10_000).map(lambda i: f"p{i}"), min_size=1, max_size=400)


@given(people, people)
@settings(max_examples=60, deadline=None)
def test_small_populations_are_compared_exactly(a: set[str], b: set[str]) -> None:
    if len(a) <= SKETCH_SIZE and len(b) <= SKETCH_SIZE:
        assert population_difference(sketch(a), sketch(b), SKETCH_SIZE) == len(a ^ b)
    assert too_close(sketch(a), sketch(a), 10, SKETCH_SIZE) is False  # the same population


@given(st.integers(1, 3_000), st.integers(0, 10**6), st.data())
@settings(max_examples=60, deadline=None)
def test_one_person_out_is_always_too_close(n: int, offset: int, data: st.DataObject) -> None:
    everyone = {f"q{offset + i}" for i in range(n + 1)}
    out = data.draw(st.sampled_from(sorted(everyone)))
    assert too_close(sketch(everyone), sketch(everyone - {out}), 10, SKETCH_SIZE)
    assert too_close(sketch(everyone - {out}), sketch(everyone), 10, SKETCH_SIZE)


@given(st.integers(SKETCH_SIZE, 3_000), st.integers(0, 10**6))
@settings(max_examples=40, deadline=None)
def test_disjoint_populations_of_the_same_size_are_not_close(n: int, offset: int) -> None:
    left = {f"l{offset + i}" for i in range(n)}
    right = {f"r{offset + i}" for i in range(n)}
    assert not too_close(sketch(left), sketch(right), 10, SKETCH_SIZE)


def test_populations_far_apart_in_size_are_never_compared() -> None:
    small = {f"s{i}" for i in range(20)}
    large = small | {f"t{i}" for i in range(40)}
    assert not too_close(sketch(small), sketch(large), 10, SKETCH_SIZE)
    assert too_close(sketch(small), sketch(small | {"t0", "t1"}), 10, SKETCH_SIZE)


@given(st.lists(st.integers(0, 2**64 - 1), max_size=SKETCH_SIZE))
def test_sketches_round_trip_as_text(minima: list[int]) -> None:
    text = encode_sketch(minima)
    assert len(text) == 16 * len(minima) and decode_sketch(text) == tuple(minima)
