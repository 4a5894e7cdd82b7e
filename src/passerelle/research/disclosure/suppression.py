"""Secondary suppression: a suppressed cell must not be recomputable from margins.

The table is a set of cells keyed by their group values (1, 2 or more group
columns).  A *line* is the set of cells that share every group value but one;
its total is a margin a reader may know (row totals, column totals, the grand
total of a 1-D table).  If a line holds exactly one suppressed cell, that cell
is its margin minus the released cells; so the released cell with the smallest
weight (its count) in that line is suppressed too.  Repeat until every line
with a suppression holds at least two, or holds a single cell (then only
withholding the margin protects it: reported as ``margin``).

This is the classic hypercube-style heuristic: always safe against the
one-equation recomputation, not optimal in cells lost, and not a full
linear-programming audit against combinations of several margins.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

__all__ = ["SecondaryResult", "lines_of", "secondary_suppression"]


@dataclass(frozen=True, slots=True)
class SecondaryResult:
    """Cells added by secondary suppression, and single-cell lines that need the margin withheld."""

    added: tuple[tuple[int, int], ...]
    """(cell index, index of the cell it protects) in the order chosen."""
    margin_only: tuple[int, ...]
    """Suppressed cells alone in a line: protected only if that line's total is not released."""


def lines_of(keys: Sequence[tuple[Hashable, ...]]) -> list[list[int]]:
    """Every line of the table: the cells that differ in exactly one group column."""
    width = len(keys[0]) if keys else 0
    lines: list[list[int]] = []
    for dim in range(width):
        groups: dict[tuple[Hashable, ...], list[int]] = defaultdict(list)
        for index, key in enumerate(keys):
            groups[key[:dim] + key[dim + 1 :]].append(index)
        lines.extend(groups.values())
    return lines


def secondary_suppression(
    keys: Sequence[tuple[Hashable, ...]], weights: Sequence[float], primary: set[int]
) -> SecondaryResult:
    """Choose extra cells to suppress so no line has exactly one suppressed cell.

    ``keys`` are the cells' group values, ``weights`` their counts (the smallest
    is sacrificed first; ties go to the earlier cell), ``primary`` the indices
    already suppressed.
    """
    lines = lines_of(keys)
    suppressed = set(primary)
    added: list[tuple[int, int]] = []
    changed = True
    while changed:
        changed = False
        for line in lines:
            hidden = [i for i in line if i in suppressed]
            if len(hidden) != 1 or len(line) < 2:
                continue
            candidates = [i for i in line if i not in suppressed]
            victim = min(candidates, key=lambda i: (weights[i], i))
            suppressed.add(victim)
            added.append((victim, hidden[0]))
            changed = True
    margin_only = sorted({line[0] for line in lines if len(line) == 1 and line[0] in suppressed})
    return SecondaryResult(tuple(added), tuple(margin_only))
