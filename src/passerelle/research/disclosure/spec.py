"""What a releasable table looks like, and the findings and verdict a check produces."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from passerelle.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

__all__ = [
    "DOMINANCE_COLUMNS",
    "PERSONS_COLUMN",
    "Dominance",
    "Finding",
    "ReleaseCheck",
    "TableSpec",
    "looks_identifying",
]

PERSONS_COLUMN = "n_persons"
DOMINANCE_COLUMNS = ("total", "top1", "top2", "n_negative")
"""Per-cell evidence for dominance and p-ratio: the cell's total contribution, the two
largest per-person contributions and the number of negative ones.  Checked, never released."""

_IDENTIFYING = re.compile(
    r"(^|_)(pseudonym|pseudo|nir|ssn|email|e_mail|phone|address|first_name|last_name|surname|"
    r"person_id|patient_id|subject_id|free_text|comment|comments|note|notes)($|_)",
    re.IGNORECASE,
)


def looks_identifying(column: str) -> bool:
    """Whether a column name reads like a pseudonym, direct identifier or free text."""
    return bool(_IDENTIFYING.search(column))


@dataclass(frozen=True, slots=True)
class Dominance:
    """The columns holding one magnitude statistic's per-person evidence, per cell:
    the cell's total contribution, the two largest per-person contributions and the
    number of negative ones (all computed by the hub, checked, never released)."""

    statistic: str
    total: str
    top1: str
    top2: str
    negative: str

    @property
    def columns(self) -> tuple[str, str, str, str]:
        return (self.total, self.top1, self.top2, self.negative)


@dataclass(frozen=True, slots=True)
class TableSpec:
    """How to read a query result as an aggregate table.

    ``groups`` are the dimension columns, ``statistics`` the released values:
    counts for a ``frequency`` table, means/sums/medians... for a ``magnitude``
    table.  Every table also carries ``n_persons`` (distinct persons per cell);
    a magnitude table should carry :data:`DOMINANCE_COLUMNS` for the dominance
    and p-ratio rules (:func:`passerelle.research.disclosure.magnitude_query`
    writes them).  ``identifying`` lists the dataset's pseudonym, identifier and
    free-text columns (from its schema): none may appear in a release.
    ``dominance`` names per-statistic evidence columns (the hub's own derivation
    of a researcher's query writes them); ``order_statistics`` lists statistics
    that are one person's value (min, max, median...), held for an output checker
    unless the policy allows them.
    """

    groups: tuple[str, ...]
    statistics: tuple[str, ...]
    kind: Literal["frequency", "magnitude"] = "frequency"
    identifying: frozenset[str] = frozenset()
    persons: str = PERSONS_COLUMN
    dominance: tuple[Dominance, ...] = ()
    order_statistics: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.kind not in ("frequency", "magnitude"):
            raise UsageError("A table is a 'frequency' or a 'magnitude' table.")
        if not self.statistics:
            raise UsageError("Name at least one statistic column to release.")
        names = [*self.groups, *self.statistics]
        if len(set(names)) != len(names) or self.persons in self.groups:
            raise UsageError("Group and statistic columns must be distinct.")

    @property
    def evidence_columns(self) -> tuple[str, ...]:
        """Columns that carry evidence only (checked, never released)."""
        if not self.dominance:
            return DOMINANCE_COLUMNS
        return tuple(c for d in self.dominance for c in d.columns)


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule touching one cell (or the whole table when ``cell`` is ``None``).

    ``action``: ``suppress`` (value withheld), ``redact``/``round`` (OpenSAFELY),
    ``review`` (an output checker must look) or ``fail`` (never releasable).
    """

    rule: str
    action: Literal["suppress", "redact", "round", "review", "fail"]
    detail: str
    cell: dict[str, Any] | None = None
    column: str | None = None
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "action": self.action,
            "detail": self.detail,
            "cell": self.cell,
            "column": self.column,
            "value": self.value,
        }


@dataclass(frozen=True)
class ReleaseCheck:
    """The verdict on one table: ``pass`` (releasable as is), ``review`` (cells were
    suppressed or something needs judgement: an output checker who is not the
    requester decides) or ``fail`` (never releasable; ``table`` is ``None``)."""

    status: Literal["pass", "review", "fail"]
    policy: str
    findings: tuple[Finding, ...]
    table: pa.Table | None = field(default=None, repr=False)

    @property
    def suppressed_cells(self) -> int:
        """Number of cells withheld (a cell touched by several rules counts once)."""
        if self.table is None:
            return 0
        return sum(1 for hidden in self.table.column("suppressed").to_pylist() if hidden)

    def report(self) -> dict[str, Any]:
        """The checking report as JSON-ready data: verdict, counts per rule, every finding."""
        per_rule: dict[str, int] = {}
        for finding in self.findings:
            per_rule[finding.rule] = per_rule.get(finding.rule, 0) + 1
        return {
            "status": self.status,
            "policy": self.policy,
            "rows": None if self.table is None else self.table.num_rows,
            "suppressed_cells": self.suppressed_cells,
            "findings_per_rule": per_rule,
            "findings": [f.as_dict() for f in self.findings],
        }
