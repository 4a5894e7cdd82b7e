"""The hub's own evidence SQL for a query it derived: cells, persons, contributions, sketches.

Written from parse-tree expressions (:func:`passerelle.research.disclosure.parse_tree.render`),
never from the researcher's text; evidence columns carry :data:`EVIDENCE_PREFIX`.
The person hashes are HMAC-SHA256 computed in DuckDB (``sha256`` over the
padded key), so the SQL carries the key: never store or log it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from passerelle.research.disclosure.parse_tree import render
from passerelle.research.disclosure.spec import Dominance, TableSpec
from passerelle.research.sql_quoting import quote_identifier

__all__ = [
    "COUNT_AGGREGATES",
    "EVIDENCE_PREFIX",
    "MAGNITUDE_AGGREGATES",
    "ORDER_STATISTICS",
    "ROW_LEVEL_AGGREGATES",
    "SKETCH_COLUMNS",
    "SKETCH_SIZE",
    "Statistic",
    "build_evidence_sql",
    "statistic_sketch_columns",
    "whole_statistic_sketch_columns",
]

EVIDENCE_PREFIX = "_hub_"
"""Columns of the hub's evidence start with this; a researcher's column may not."""

SKETCH_SIZE = 128
"""Keyed person hashes kept per cell (the smallest ones): exact below this many persons."""

COUNT_AGGREGATES = frozenset({"count_star", "count"})
MAGNITUDE_AGGREGATES = frozenset(
    {
        "sum",
        "fsum",
        "sumkahan",
        "kahan_sum",
        "avg",
        "mean",
        "favg",
        "stddev",
        "stddev_samp",
        "stddev_pop",
        "variance",
        "var_samp",
        "var_pop",
    }
)
ORDER_STATISTICS = frozenset(
    {
        "min",
        "max",
        "median",
        "mode",
        "quantile",
        "quantile_cont",
        "quantile_disc",
        "percentile_cont",
        "percentile_disc",
        "approx_quantile",
        "reservoir_quantile",
        "mad",
        "first",
        "last",
        "any_value",
        "arbitrary",
        "arg_max",
        "arg_min",
        "argmax",
        "argmin",
        "max_by",
        "min_by",
        "arg_max_null",
        "arg_min_null",
    }
)
"""Aggregates whose value is one person's own value (or close to it)."""

ROW_LEVEL_AGGREGATES = frozenset(
    {
        "list",
        "array_agg",
        "string_agg",
        "group_concat",
        "listagg",
        "histogram",
        "histogram_exact",
        "approx_top_k",
        "map_agg",
        "bitstring_agg",
        "json_group_array",
        "json_group_object",
        "json_group_structure",
    }
)
"""Aggregates that return the values themselves (a list of rows in one cell): refused."""

SKETCH_COLUMNS = (
    "_hub_cell_n",
    "_hub_sketch",
    "_hub_xor",
    "_hub_all_n",
    "_hub_all_sketch",
    "_hub_all_xor",
)
"""Columns of the hub's result holding the person sketches (for differencing, never checked)."""


def statistic_sketch_columns(j: int) -> tuple[str, str, str]:
    """The columns of the sketch of the persons behind statistic ``j`` of a cell (its
    ``FILTER`` and the non-null rows of its argument: a population of its own)."""
    return (f"_hub_sn{j}", f"_hub_sk{j}", f"_hub_sx{j}")


def whole_statistic_sketch_columns(j: int) -> tuple[str, str, str]:
    """The same for statistic ``j`` over the release's whole population (the margin a
    reader adds up from the cells)."""
    return (f"_hub_all_sn{j}", f"_hub_all_sk{j}", f"_hub_all_sx{j}")


@dataclass
class Statistic:
    """One aggregate of the researcher's select list: its output name, function,
    node, argument and ``FILTER`` condition (parse-tree nodes)."""

    name: str
    function: str
    node: dict[str, Any]
    argument: dict[str, Any] | None
    filter: dict[str, Any] | None


def _hmac_sql(value: str, key: bytes) -> str:
    """HMAC-SHA256(key, value) in DuckDB SQL, as its first 64 bits (UBIGINT)."""
    import hashlib

    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(64, b"\0")
    inner = bytes(b ^ 0x36 for b in padded).hex()
    outer = bytes(b ^ 0x5C for b in padded).hex()
    digest = (
        f"sha256(unhex('{outer}') || unhex(sha256(unhex('{inner}') || "
        f"encode(CAST({value} AS VARCHAR)))))"
    )
    return f"('0x' || substr({digest}, 1, 16))::UBIGINT"


def build_evidence_sql(
    table: str,
    qualifier: str,
    person: str,
    groups: list[dict[str, Any]],
    group_names: list[str],
    statistics: list[Statistic],
    where: dict[str, Any] | None,
    having: dict[str, Any] | None,
    sketch_key: bytes,
) -> tuple[str, TableSpec]:
    """The hub's SQL for the cells of ``table`` grouped by ``groups`` (named
    ``group_names``) with ``statistics``, and the spec to check its result with.

    Per cell: the statistics recomputed from the parse tree, ``_hub_persons``
    (the fewest persons behind any statistic), per-person contributions to each
    magnitude (``_hub_total<j>``, ``_hub_top1_<j>``, ``_hub_top2_<j>``,
    ``_hub_neg<j>``) and the :data:`SKETCH_COLUMNS` (distinct persons, XOR and
    the :data:`SKETCH_SIZE` smallest keyed hashes, per cell and for the whole).
    """
    source = f"{quote_identifier(table)} AS {quote_identifier(qualifier)}"
    person_sql = f"{quote_identifier(qualifier)}.{quote_identifier(person)}"
    # a row with no person is nobody the hub can count: it is behind no released cell
    researcher_where = f"({render(where)}) AND " if where is not None else ""
    where_sql = f" WHERE {researcher_where}{person_sql} IS NOT NULL"
    keys = [f"_hub_g{i}" for i in range(len(groups))]
    group_select = "".join(f"{render(g)} AS {k}, " for g, k in zip(groups, keys, strict=True))
    group_by = ", ".join(render(g) for g in groups)
    stats = ", ".join(f"{render(s.node)} AS _hub_s{j}" for j, s in enumerate(statistics))
    having_sql = f" HAVING {render(having)}" if having is not None else ""
    cells = (
        f"_hub_cells AS (SELECT {group_select}{stats} FROM {source}{where_sql}"
        f"{' GROUP BY ' + group_by if groups else ''}{having_sql})"
    )
    per_person: list[str] = []
    for j, s in enumerate(statistics):
        condition = render(s.filter) if s.filter is not None else "true"
        if s.argument is not None:
            condition = f"({condition}) AND ({render(s.argument)}) IS NOT NULL"
        per_person.append(f"count(*) FILTER (WHERE {condition}) AS _hub_k{j}")
        if s.function in MAGNITUDE_AGGREGATES and s.argument is not None:
            per_person.append(f"sum({render(s.argument)}) FILTER (WHERE {condition}) AS _hub_c{j}")
    people = (
        f"_hub_people AS (SELECT {group_select}{person_sql} AS _hub_p, {', '.join(per_person)} "
        f"FROM {source}{where_sql} GROUP BY {group_by + ', ' if groups else ''}{person_sql})"
    )
    hashed = (
        f"_hub_hashed AS (SELECT *, {_hmac_sql('_hub_p', sketch_key)} AS _hub_h "
        "FROM _hub_people WHERE _hub_p IS NOT NULL)"
    )
    evidence_cols = [
        "count(*) AS _hub_n",
        f"min(_hub_h, {SKETCH_SIZE}) AS _hub_sketch",
        "bit_xor(_hub_h) AS _hub_xor",
    ]
    dominance: list[Dominance] = []
    conditions: list[str] = []
    for j, s in enumerate(statistics):
        magnitude = s.function in MAGNITUDE_AGGREGATES and s.argument is not None
        # a magnitude's contributors are the persons who add something: sum(hiv) over 40
        # persons of whom 3 have hiv = 1 is a count of 3, not a cell of 40
        contributes = f"_hub_k{j} > 0" + (f" AND _hub_c{j} <> 0" if magnitude else "")
        conditions.append(contributes)
        evidence_cols += [
            f"count(*) FILTER (WHERE {contributes}) AS _hub_n{j}",
            f"min(_hub_h, {SKETCH_SIZE}) FILTER (WHERE {contributes}) AS _hub_sk{j}",
            f"bit_xor(_hub_h) FILTER (WHERE {contributes}) AS _hub_sx{j}",
        ]
        if s.function in MAGNITUDE_AGGREGATES and s.argument is not None:
            c = f"_hub_c{j}"
            evidence_cols += [
                f"coalesce(sum({c}), 0) AS _hub_total{j}",
                f"coalesce(max({c}, 2)[1], 0) AS _hub_top1_{j}",
                f"coalesce(max({c}, 2)[2], 0) AS _hub_top2_{j}",
                f"count(*) FILTER (WHERE {c} < 0) AS _hub_neg{j}",
            ]
            dominance.append(
                Dominance(
                    s.name, f"_hub_total{j}", f"_hub_top1_{j}", f"_hub_top2_{j}", f"_hub_neg{j}"
                )
            )
    key_list = ", ".join(keys)
    evidence = (
        f"_hub_evidence AS (SELECT {key_list + ', ' if keys else ''}{', '.join(evidence_cols)} "
        f"FROM _hub_hashed{' GROUP BY ' + key_list if keys else ''})"
    )
    flags = "".join(f", bool_or({c}) AS _hub_f{j}" for j, c in enumerate(conditions))
    kept = (
        f"_hub_kept AS (SELECT h._hub_p, h._hub_h{flags} FROM _hub_hashed h"
        + (
            " JOIN _hub_cells c ON "
            + " AND ".join(f"h.{k} IS NOT DISTINCT FROM c.{k}" for k in keys)
            if keys
            else ""
        )
        + " GROUP BY h._hub_p, h._hub_h)"
    )
    whole_stats = ""
    for j in range(len(statistics)):
        n, minima, xor = whole_statistic_sketch_columns(j)
        whole_stats += (
            f", count(*) FILTER (WHERE _hub_f{j}) AS {n}, min(_hub_h, {SKETCH_SIZE}) "
            f"FILTER (WHERE _hub_f{j}) AS {minima}, bit_xor(_hub_h) FILTER (WHERE _hub_f{j}) "
            f"AS {xor}"
        )
    whole = (
        f"_hub_all AS (SELECT count(*) AS _hub_all_n, min(_hub_h, {SKETCH_SIZE}) AS "
        f"_hub_all_sketch, bit_xor(_hub_h) AS _hub_all_xor{whole_stats} FROM _hub_kept)"
    )
    persons = ", ".join(
        ["coalesce(e._hub_n, 0)", *(f"coalesce(e._hub_n{j}, 0)" for j in range(len(statistics)))]
    )
    outputs = [f"c.{k} AS {quote_identifier(n)}" for k, n in zip(keys, group_names, strict=True)]
    outputs += [f"c._hub_s{j} AS {quote_identifier(s.name)}" for j, s in enumerate(statistics)]
    outputs.append(f"least({persons}) AS _hub_persons")
    for d in dominance:
        outputs += [f"e.{c} AS {c}" for c in d.columns]
    outputs += [
        "coalesce(e._hub_n, 0) AS _hub_cell_n",
        "e._hub_sketch AS _hub_sketch",
        "e._hub_xor AS _hub_xor",
        "a._hub_all_n AS _hub_all_n",
        "a._hub_all_sketch AS _hub_all_sketch",
        "a._hub_all_xor AS _hub_all_xor",
    ]
    for j in range(len(statistics)):
        n, sketch, xor = statistic_sketch_columns(j)
        outputs += [
            f"coalesce(e._hub_n{j}, 0) AS {n}",
            f"e.{sketch} AS {sketch}",
            f"e.{xor} AS {xor}",
        ]
        outputs += [f"a.{c} AS {c}" for c in whole_statistic_sketch_columns(j)]
    join = " AND ".join(f"c.{k} IS NOT DISTINCT FROM e.{k}" for k in keys) if keys else "true"
    order = f" ORDER BY {', '.join(f'c.{k}' for k in keys)}" if keys else ""
    sql = (
        f"WITH {cells}, {people}, {hashed}, {evidence}, {kept}, {whole} "
        f"SELECT {', '.join(outputs)} FROM _hub_cells c LEFT JOIN _hub_evidence e ON {join} "
        f"CROSS JOIN _hub_all a{order}"
    )
    kinds = {s.function for s in statistics}
    kind: Literal["frequency", "magnitude"] = (
        "frequency" if kinds <= COUNT_AGGREGATES else "magnitude"
    )
    spec = TableSpec(
        groups=tuple(group_names),
        statistics=tuple(s.name for s in statistics),
        kind=kind,
        persons="_hub_persons",
        dominance=tuple(dominance),
        order_statistics=frozenset(s.name for s in statistics if s.function in ORDER_STATISTICS),
    )
    return sql, spec
