"""SQL that computes a checkable aggregate table, with the evidence the rules need.

A release should not trust evidence the researcher typed: the hub re-runs the
aggregation from the granted rows in the sandbox with these queries, so the
person counts and the largest contributions come from the data itself.  A
contributor is a person: values are first summed per person and cell, then the
two largest per-person totals give ``top1``/``top2``.
"""

from __future__ import annotations

from collections.abc import Sequence

from passerelle.errors import UsageError
from passerelle.research.disclosure.spec import PERSONS_COLUMN, TableSpec
from passerelle.research.sql_quoting import quote_identifier

__all__ = ["MAGNITUDE_STATISTICS", "frequency_query", "magnitude_query", "quote_identifier"]

MAGNITUDE_STATISTICS = ("sum", "mean", "count")
"""Statistics :func:`magnitude_query` computes (others need the researcher's own query
and then carry no dominance evidence)."""


def frequency_query(
    dataset: str, groups: Sequence[str], person: str, *, count_name: str = "n_records"
) -> tuple[str, TableSpec]:
    """SQL counting rows and distinct persons per group, and the spec to check it with."""
    g = ", ".join(quote_identifier(c) for c in groups)
    select = f"{g}, " if g else ""
    group_by = f" GROUP BY {g} ORDER BY {g}" if g else ""
    sql = (
        f"SELECT {select}count(*) AS {quote_identifier(count_name)}, "
        f"count(DISTINCT {quote_identifier(person)}) AS {PERSONS_COLUMN} "
        f"FROM {quote_identifier(dataset)}{group_by}"
    )
    spec = TableSpec(
        groups=tuple(groups),
        statistics=(count_name,),
        kind="frequency",
        identifying=frozenset({person}),
    )
    return sql, spec


def magnitude_query(
    dataset: str,
    groups: Sequence[str],
    value: str,
    person: str,
    statistics: Sequence[str] = ("mean",),
) -> tuple[str, TableSpec]:
    """SQL computing ``<value>_<stat>`` per group with ``n_persons`` and the dominance
    evidence (``total``, ``top1``, ``top2``, ``n_negative``), and the spec to check it.

    Rows with a null ``value`` are left out, as the statistics leave them out.
    """
    unknown = [s for s in statistics if s not in MAGNITUDE_STATISTICS]
    if unknown or not statistics:
        raise UsageError(
            f"Statistics must be among {', '.join(MAGNITUDE_STATISTICS)}; got {unknown or 'none'}."
        )
    g = [quote_identifier(c) for c in groups]
    v, p = quote_identifier(value), quote_identifier(person)
    expressions = {
        "sum": "sum(_c)",
        "mean": "sum(_c) / sum(_k)",
        "count": "sum(_k)",
    }
    stat_names = [f"{value}_{s}" for s in statistics]
    stats = ", ".join(
        f"{expressions[s]} AS {quote_identifier(n)}"
        for s, n in zip(statistics, stat_names, strict=True)
    )
    keys = ", ".join(g)
    lead = f"{keys}, " if keys else ""
    group_by = f" GROUP BY {keys} ORDER BY {keys}" if keys else ""
    sql = (
        f"WITH _per_person AS (SELECT {lead}{p} AS _p, sum({v}) AS _c, count({v}) AS _k "
        f"FROM {quote_identifier(dataset)} WHERE {v} IS NOT NULL GROUP BY {lead}{p}) "
        f"SELECT {lead}{stats}, count(*) AS {PERSONS_COLUMN}, sum(_c) AS total, "
        "max(_c, 2)[1] AS top1, coalesce(max(_c, 2)[2], 0) AS top2, "
        "count(*) FILTER (WHERE _c < 0) AS n_negative "
        f"FROM _per_person{group_by}"
    )
    spec = TableSpec(
        groups=tuple(groups),
        statistics=tuple(stat_names),
        kind="magnitude",
        identifying=frozenset({person}),
    )
    return sql, spec
