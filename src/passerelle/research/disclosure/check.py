"""Check an aggregate table against a disclosure policy and produce what may be released.

Pure: a pyarrow table in, a :class:`ReleaseCheck` out (the released table, every
finding, the verdict).  Suppression works per cell (one row of the result): a
cell that breaks any rule has all its statistics and its person count withheld.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

from passerelle.research.disclosure.policy import SACRO_DEFAULTS, DisclosurePolicy
from passerelle.research.disclosure.spec import (
    Dominance,
    Finding,
    ReleaseCheck,
    TableSpec,
    looks_identifying,
)
from passerelle.research.disclosure.suppression import secondary_suppression

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

__all__ = ["MAX_LABEL_CHARS", "check_release", "round_to_base"]

MAX_LABEL_CHARS = 64
"""A group label longer than this is treated as free text, never releasable."""


def round_to_base(value: int, base: int) -> int:
    """``value`` rounded to the nearest multiple of ``base`` (halves away from zero)."""
    sign = -1 if value < 0 else 1
    return sign * ((abs(value) + base // 2) // base) * base


def check_release(
    result: pa.Table, spec: TableSpec, policy: DisclosurePolicy = SACRO_DEFAULTS
) -> ReleaseCheck:
    """Apply ``policy`` to the aggregate ``result`` described by ``spec``.

    Structural problems (row-level data, pseudonym or free-text columns, missing
    person counts, undeclared columns) make the verdict ``fail`` with no table.
    Otherwise each cell is checked, failing cells and their secondary partners are
    suppressed, and the verdict is ``review`` when anything was flagged, ``pass``
    when nothing was.
    """
    failures = _structure(result, spec)
    if failures:
        return ReleaseCheck("fail", policy.name, tuple(failures), None)
    columns = {name: result.column(name).to_pylist() for name in result.column_names}
    keys = [tuple(_hashable(columns[g][i]) for g in spec.groups) for i in range(result.num_rows)]
    cells = [{g: _plain(columns[g][i]) for g in spec.groups} for i in range(result.num_rows)]
    findings: list[Finding] = []
    suppressed: dict[int, str] = {}
    if policy.redact_at_or_below is not None:
        _redaction(columns, spec, policy, cells, findings, suppressed)
    else:
        _thresholds(columns, spec, policy, cells, findings, suppressed)
        if spec.kind == "magnitude":
            _dominance(columns, spec, policy, cells, findings, suppressed)
    findings.extend(_order_statistics(spec, policy))
    if spec.kind == "frequency" and policy.zeros_disclosive:
        findings.extend(_implicit_zeros(keys, spec))
    if policy.secondary_suppression and suppressed:
        weight_column = spec.persons if spec.kind == "magnitude" else spec.statistics[0]
        weights = [_number(v) for v in columns[weight_column]]
        outcome = secondary_suppression(keys, weights, set(suppressed))
        for victim, protected in outcome.added:
            suppressed[victim] = "secondary"
            findings.append(
                Finding(
                    "secondary",
                    "suppress",
                    f"suppressed so that the cell {cells[protected]} cannot be recomputed "
                    "from a margin",
                    cells[victim],
                    weight_column,
                    columns[weight_column][victim],
                )
            )
        for alone in outcome.margin_only:
            findings.append(
                Finding(
                    "margin",
                    "review",
                    "the only cell of its row/column is suppressed: its margin must not be "
                    "released",
                    cells[alone],
                )
            )
    table = _released(result, columns, spec, policy, suppressed)
    flagged = any(f.action in ("suppress", "redact", "review") for f in findings)
    return ReleaseCheck("review" if flagged else "pass", policy.name, tuple(findings), table)


def _structure(result: pa.Table, spec: TableSpec) -> list[Finding]:
    import pyarrow.types as pat  # type: ignore[import-untyped]

    out: list[Finding] = []
    present = set(result.column_names)
    declared = {*spec.groups, *spec.statistics, spec.persons}
    evidence = set(spec.evidence_columns)
    for name in sorted(declared - present):
        out.append(Finding("structure", "fail", f"the declared column {name!r} is missing"))
    for name in [c for c in result.column_names if c not in declared | evidence]:
        out.append(
            Finding(
                "structure",
                "fail",
                f"the column {name!r} is neither a group, a statistic nor a person count",
                column=name,
            )
        )
    identifying = {c.lower() for c in spec.identifying}
    for name in result.column_names:
        if name.lower() in identifying or looks_identifying(name):
            out.append(
                Finding(
                    "identifying",
                    "fail",
                    f"the column {name!r} carries pseudonyms, identifiers or free text",
                    column=name,
                )
            )
    if out:
        return out
    schema = result.schema
    if not pat.is_integer(schema.field(spec.persons).type):
        out.append(Finding("structure", "fail", f"{spec.persons!r} must be an integer count"))
    for name in [*spec.statistics, *(c for c in spec.evidence_columns if c in present)]:
        kind = schema.field(name).type
        if not (pat.is_integer(kind) or pat.is_floating(kind) or pat.is_decimal(kind)):
            out.append(
                Finding(
                    "free-text",
                    "fail",
                    f"the statistic {name!r} is not numeric ({kind})",
                    column=name,
                )
            )
    persons = result.column(spec.persons).to_pylist()
    if any(p is None or p < 0 for p in persons):
        out.append(Finding("structure", "fail", f"{spec.persons!r} has missing or negative counts"))
    for name in spec.groups:
        values = result.column(name).to_pylist()
        if any(isinstance(v, str) and len(v) > MAX_LABEL_CHARS for v in values):
            out.append(
                Finding(
                    "free-text",
                    "fail",
                    f"the group {name!r} holds labels longer than {MAX_LABEL_CHARS} characters",
                    column=name,
                )
            )
        if any(isinstance(v, bytes | list | dict) for v in values):
            out.append(
                Finding("free-text", "fail", f"the group {name!r} is not a label", column=name)
            )
    if out:
        return out
    keys = list(zip(*(result.column(g).to_pylist() for g in spec.groups), strict=True))
    if spec.groups and len({tuple(_hashable(v) for v in k) for k in keys}) != len(keys):
        out.append(
            Finding(
                "row-level",
                "fail",
                "several rows share the same group values: this is not an aggregate table",
            )
        )
    if not spec.groups and result.num_rows > 1:
        out.append(Finding("row-level", "fail", "a table without groups has exactly one row"))
    return out


def _suppress(
    suppressed: dict[int, str], findings: list[Finding], index: int, finding: Finding
) -> None:
    findings.append(finding)
    if finding.action in ("suppress", "redact"):
        suppressed.setdefault(index, finding.rule)


def _thresholds(
    columns: dict[str, list[Any]],
    spec: TableSpec,
    policy: DisclosurePolicy,
    cells: list[dict[str, Any]],
    findings: list[Finding],
    suppressed: dict[int, str],
) -> None:
    minimum = policy.min_count
    counted = [*spec.statistics, spec.persons] if spec.kind == "frequency" else [spec.persons]
    for i, cell in enumerate(cells):
        for name in counted:
            value = columns[name][i]
            if value is None:
                continue
            if value == 0 and spec.kind == "frequency":
                if policy.zeros_disclosive:
                    _suppress(
                        suppressed,
                        findings,
                        i,
                        Finding("zero", "suppress", "zero count", cell, name, value),
                    )
                continue
            if minimum is not None and value < minimum:
                what = "persons behind the statistics" if name == spec.persons else "count"
                _suppress(
                    suppressed,
                    findings,
                    i,
                    Finding(
                        "threshold",
                        "suppress",
                        f"{what}: {value}, below the minimum of {minimum}",
                        cell,
                        name,
                        value,
                    ),
                )


def _dominance(
    columns: dict[str, list[Any]],
    spec: TableSpec,
    policy: DisclosurePolicy,
    cells: list[dict[str, Any]],
    findings: list[Finding],
    suppressed: dict[int, str],
) -> None:
    if policy.nk_k is None and policy.p_ratio is None:
        return
    if spec.dominance or spec.order_statistics:
        for evidence in spec.dominance:
            _dominance_of(columns, evidence, policy, cells, findings, suppressed)
        return
    if not all(c in columns for c in ("total", "top1", "top2")):
        findings.append(
            Finding(
                "dominance-unknown",
                "review",
                "the table has no total/top1/top2 columns, so dominance and p-ratio could "
                "not be checked",
            )
        )
        return
    legacy = Dominance("", "total", "top1", "top2", "n_negative")
    _dominance_of(columns, legacy, policy, cells, findings, suppressed)


def _dominance_of(
    columns: dict[str, list[Any]],
    evidence: Dominance,
    policy: DisclosurePolicy,
    cells: list[dict[str, Any]],
    findings: list[Finding],
    suppressed: dict[int, str],
) -> None:
    negatives = columns.get(evidence.negative)
    what = f" of {evidence.statistic!r}" if evidence.statistic else ""
    for i, cell in enumerate(cells):
        total = _number(columns[evidence.total][i])
        top1 = _number(columns[evidence.top1][i])
        top2 = _number(columns[evidence.top2][i])
        if (negatives is not None and (negatives[i] or 0) > 0) or min(total, top1, top2) < 0:
            findings.append(
                Finding(
                    "negative",
                    "review",
                    f"dominance{what} is not defined when contributions are negative",
                    cell,
                    evidence.statistic or None,
                )
            )
            continue
        top_n = top1 + (top2 if policy.nk_n == 2 else 0)
        if policy.nk_k is not None and total > 0 and top_n / total >= policy.nk_k:
            _suppress(
                suppressed,
                findings,
                i,
                Finding(
                    "dominance",
                    "suppress",
                    f"the {policy.nk_n} largest contributions{what} make {top_n / total:.1%} "
                    f"of the total (limit {policy.nk_k:.0%})",
                    cell,
                    evidence.statistic or None,
                ),
            )
        if policy.p_ratio is not None and top1 > 0:
            rest = (total - top1 - top2) / top1
            if rest < policy.p_ratio:
                _suppress(
                    suppressed,
                    findings,
                    i,
                    Finding(
                        "p-ratio",
                        "suppress",
                        f"the contributions{what} after the two largest make {rest:.1%} of "
                        f"the largest (minimum {policy.p_ratio:.0%})",
                        cell,
                        evidence.statistic or None,
                    ),
                )


def _order_statistics(spec: TableSpec, policy: DisclosurePolicy) -> list[Finding]:
    if policy.order_statistics:
        return []
    return [
        Finding(
            "order-statistic",
            "review",
            f"{name!r} is an order statistic (min, max, median, quantile...): each cell's "
            "value is one person's own value; an output checker must judge it",
            column=name,
        )
        for name in spec.statistics
        if name in spec.order_statistics
    ]


def _redaction(
    columns: dict[str, list[Any]],
    spec: TableSpec,
    policy: DisclosurePolicy,
    cells: list[dict[str, Any]],
    findings: list[Finding],
    suppressed: dict[int, str],
) -> None:
    limit = policy.redact_at_or_below
    assert limit is not None
    counted = [*spec.statistics, spec.persons] if spec.kind == "frequency" else [spec.persons]
    for i, cell in enumerate(cells):
        for name in counted:
            value = columns[name][i]
            if value is not None and value <= limit:
                _suppress(
                    suppressed,
                    findings,
                    i,
                    Finding(
                        "redact",
                        "redact",
                        f"count {value} is at or below {limit}",
                        cell,
                        name,
                        value,
                    ),
                )
    if policy.round_to is not None:
        findings.append(
            Finding(
                "round",
                "round",
                f"every released count is rounded to the nearest {policy.round_to}",
            )
        )


def _implicit_zeros(keys: Sequence[tuple[Hashable, ...]], spec: TableSpec) -> list[Finding]:
    if len(spec.groups) < 2 or not keys:
        return []
    grid = math.prod(len({k[d] for k in keys}) for d in range(len(spec.groups)))
    missing = grid - len(set(keys))
    if missing <= 0:
        return []
    return [
        Finding(
            "implicit-zero",
            "review",
            f"{missing} combinations of the groups have no row (zero counts); check that "
            "their absence discloses nothing",
        )
    ]


def _released(
    result: pa.Table,
    columns: dict[str, list[Any]],
    spec: TableSpec,
    policy: DisclosurePolicy,
    suppressed: dict[int, str],
) -> pa.Table:
    import pyarrow as pa

    counts = {*spec.statistics, spec.persons} if spec.kind == "frequency" else {spec.persons}
    arrays: dict[str, pa.Array] = {}
    for name in [*spec.groups, *spec.statistics, spec.persons]:
        if name in spec.groups:  # labels are released as they are (a bool8 stays a bool8)
            arrays[name] = result.column(name)
            continue
        values = list(columns[name])
        kind = result.schema.field(name).type
        for i in suppressed:
            values[i] = None
        if policy.round_to is not None and name in counts:
            values = [None if v is None else round_to_base(int(v), policy.round_to) for v in values]
        arrays[name] = pa.array(values, type=kind)
    arrays["suppressed"] = pa.array([i in suppressed for i in range(result.num_rows)], pa.bool_())
    return pa.table(arrays)


def _number(value: Any) -> float:
    return 0.0 if value is None else float(value)


def _hashable(value: Any) -> Hashable:
    return value if isinstance(value, Hashable) else repr(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
