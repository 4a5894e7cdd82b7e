"""The phases of a live move and where reads and writes go in each (pure).

::

    single(source) --start--> mirroring --cutover--> cutover --finish--> single(destination)
                                  |                     |
                                  +------rollback-------+----> single(source)

- ``single``: one store; before a move it is the source, after ``finish`` the
  destination, with the old source kept read-only as a fallback for reads.
- ``mirroring``: every write goes to the source, then to the destination; reads
  stay on the source; the migration engine copies the backlog.
- ``cutover``: reads come from the destination (falling back to the source for
  anything not found there); writes still go to both, so a rollback loses nothing.

Writes reach the source first in every phase before ``finish``: the source stays
complete and authoritative until the operator finishes, which is what makes a
rollback from any phase lossless.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Binding", "Phase", "Route", "next_phase", "route"]


class Phase(StrEnum):
    SINGLE = "single"
    MIRRORING = "mirroring"
    CUTOVER = "cutover"


_STEPS: dict[str, tuple[frozenset[Phase], Phase]] = {
    "start": (frozenset({Phase.SINGLE}), Phase.MIRRORING),
    "cutover": (frozenset({Phase.MIRRORING}), Phase.CUTOVER),
    "finish": (frozenset({Phase.CUTOVER}), Phase.SINGLE),
    "rollback": (frozenset({Phase.MIRRORING, Phase.CUTOVER}), Phase.SINGLE),
}


@dataclass(frozen=True)
class Binding:
    """Where the hub's data store is, as recorded in the hub's database."""

    phase: Phase
    source_url: str
    destination_url: str | None = None
    retired_url: str | None = None
    journal: str | None = None
    generation: int = 0


@dataclass(frozen=True)
class Route:
    """Store URLs for one phase: reads, read fallback, and writes in order."""

    read: str
    fallback: str | None
    writes: tuple[str, ...]


def route(binding: Binding) -> Route:
    if binding.phase is Phase.SINGLE:
        return Route(binding.source_url, binding.retired_url, (binding.source_url,))
    dest = binding.destination_url
    if dest is None:
        raise ValueError(f"phase {binding.phase} needs a destination")
    if binding.phase is Phase.MIRRORING:
        return Route(binding.source_url, None, (binding.source_url, dest))
    return Route(dest, binding.source_url, (binding.source_url, dest))


def next_phase(current: Phase, step: str) -> Phase | None:
    """The phase after ``step``, or None when the step is not allowed now."""
    allowed, target = _STEPS[step]
    return target if current in allowed else None
