"""Differencing: two releases whose populations differ by a handful of persons.

Releasing "all patients" and then "all patients but one" discloses that one
person's values by subtraction.  The hub keeps, for every released cell (and
for each release's whole population), a :class:`PersonSketch`: the number of
distinct persons, the XOR of their keyed hashes (an exact-equality fingerprint)
and the :data:`~passerelle.research.disclosure.derive.SKETCH_SIZE` smallest
keyed hashes (a bottom-k sketch).  The hashes are the first 64 bits of
HMAC-SHA256 of the person's pseudonym under a per-dataset key derived from the
hub's ``project`` key, which never sits in the database: a copy of the
database alone links no hash to a pseudonym (the kept sketches are sealed per
project as well), while the hub compares releases of two projects over the same
dataset.  Size is bounded: at most ``k`` hashes per cell.

Pure: :func:`population_difference` estimates ``|A Δ B|`` from two sketches,
exactly when both populations have at most ``k`` persons, else from the
bottom-k of their union (a Jaccard estimate).  :func:`too_close` decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PersonSketch", "decode_sketch", "encode_sketch", "population_difference", "too_close"]


@dataclass(frozen=True, slots=True)
class PersonSketch:
    """What the hub keeps about one population: its size, fingerprint, smallest hashes."""

    persons: int
    fingerprint: int
    minima: tuple[int, ...]

    @classmethod
    def of(
        cls, persons: int, fingerprint: int | None, minima: Sequence[int] | None
    ) -> PersonSketch:
        return cls(int(persons), int(fingerprint or 0), tuple(sorted(int(m) for m in minima or ())))


def encode_sketch(minima: Sequence[int]) -> str:
    """The hashes as one compact text (16 hex digits each)."""
    return "".join(f"{int(m):016x}" for m in minima)


def decode_sketch(text: str) -> tuple[int, ...]:
    return tuple(int(text[i : i + 16], 16) for i in range(0, len(text), 16))


def population_difference(a: PersonSketch, b: PersonSketch, k: int) -> float:
    """An estimate of the number of persons in one population and not the other.

    Exact (0 or the size of the symmetric difference) when both populations have
    at most ``k`` persons or their fingerprints match; otherwise the Jaccard
    index ``J`` estimated from the ``k`` smallest hashes of the union gives
    ``(|A| + |B|)(1 - J)/(1 + J)``, never less than ``||A| - |B||``.
    """
    if a.persons == b.persons and a.fingerprint == b.fingerprint:
        return 0.0
    if a.persons <= k and b.persons <= k:
        return float(len(set(a.minima) ^ set(b.minima)))
    left, right = set(a.minima), set(b.minima)
    union = sorted(left | right)[:k]
    if not union:
        return float(abs(a.persons - b.persons))
    both = sum(1 for h in union if h in left and h in right)
    jaccard = both / len(union)
    estimate = (a.persons + b.persons) * (1 - jaccard) / (1 + jaccard)
    return max(estimate, float(abs(a.persons - b.persons)))


def too_close(a: PersonSketch, b: PersonSketch, threshold: int, k: int) -> bool:
    """Whether ``a`` and ``b`` differ, but by fewer than ``threshold`` persons.

    Conservative above ``k`` persons: when the two bottom-k sketches differ in at
    most one hash, the populations are taken as too close whatever the estimate
    (so a single person removed from a large population is caught even when that
    person's hash is among the smallest).
    """
    if abs(a.persons - b.persons) >= threshold:
        return False
    if a.persons == b.persons and a.fingerprint == b.fingerprint:
        return False
    difference = population_difference(a, b, k)
    if difference == 0:
        return a.persons > k or b.persons > k  # sketches agree, populations do not: close
    if difference < threshold:
        return True
    if a.persons > k or b.persons > k:
        left, right = set(a.minima), set(b.minima)
        union = sorted(left | right)[:k]
        mismatched = sum(1 for h in union if not (h in left and h in right))
        return mismatched <= 1
    return False
