"""Re-derive a researcher's aggregate query: the hub's own SQL for the cells and their evidence.

Pure: the researcher's SQL and what the catalog says about the granted tables
in, a :class:`Derivation` out.  DuckDB's own parser reads the query
(``json_serialize_sql``, as :mod:`passerelle.research.guard` does) and only the
shapes the hub understands are derived: one ``SELECT`` over one granted table,
``WHERE`` filters, ``GROUP BY`` expressions that are all selected, and
aggregates (counts, sums, means, variances, order statistics) with optional
``FILTER``.  The hub's SQL recomputes the researcher's cells itself and, per
cell, the distinct persons from the catalogued person column, each person's
contribution to every magnitude (total, two largest, negatives) and a keyed
sketch of the cell's person set for differencing.  Nothing the researcher's
columns say is trusted: the released table is the hub's.

Verdicts: ``derived`` (the hub's SQL is in :attr:`Derivation.sql`),
``unverified`` (joins, subqueries, CTEs, set operations, expressions over
aggregates...: an output checker must look, the evidence is not verified) and
``row-level`` (no aggregation, one row per person, lists of values: refused).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from passerelle.research.disclosure.spec import Dominance, TableSpec

__all__ = [
    "COUNT_AGGREGATES",
    "EVIDENCE_PREFIX",
    "MAGNITUDE_AGGREGATES",
    "ORDER_STATISTICS",
    "ROW_LEVEL_AGGREGATES",
    "SKETCH_SIZE",
    "Derivation",
    "TableFacts",
    "derive",
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

_VOLATILE_KEYS = frozenset({"alias", "query_location", "query_location_length"})


@dataclass(frozen=True, slots=True)
class TableFacts:
    """What the catalog says about one granted table: its person column (``None`` when it
    has none), its columns and those that identify (pseudonyms, identifiers, free text)."""

    person: str | None
    columns: frozenset[str]
    identifying: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Derivation:
    """The hub's plan for one researcher query.

    ``reasons`` say why a query is ``unverified`` or ``row-level``; ``review`` why
    a ``derived`` one still needs an output checker (``HAVING``, a filter on a
    person column).  ``sketch_columns`` name the per-cell and whole-table person
    sketches in the hub's result (used for differencing, never released).
    """

    verdict: Literal["derived", "unverified", "row-level"]
    reasons: tuple[str, ...] = ()
    sql: str | None = field(default=None, repr=False)
    spec: TableSpec | None = None
    review: tuple[str, ...] = ()
    table: str | None = None
    sketch_columns: tuple[str, ...] = ()


def _unverified(*reasons: str) -> Derivation:
    return Derivation("unverified", tuple(reasons))


def _row_level(*reasons: str) -> Derivation:
    return Derivation("row-level", tuple(reasons))


# -- parsing -----------------------------------------------------------------------------------

_parsers = threading.local()


def _connection() -> Any:
    import duckdb

    con = getattr(_parsers, "con", None)
    if con is None:
        con = duckdb.connect(":memory:")
        _parsers.con = con
    return con


def _parse(sql: str) -> dict[str, Any] | None:
    row = _connection().execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()
    tree = json.loads(row[0]) if row else None
    if not isinstance(tree, dict) or tree.get("error") or len(tree.get("statements", [])) != 1:
        return None
    node = tree["statements"][0].get("node")
    return node if isinstance(node, dict) else None


_template: dict[str, Any] = {}


def render(expression: dict[str, Any]) -> str:
    """One parsed expression back as DuckDB SQL (through ``json_deserialize_sql``)."""
    con = _connection()
    if not _template:
        row = con.execute("SELECT json_serialize_sql('SELECT 1')").fetchone()
        _template.update(json.loads(row[0]))
    tree = json.loads(json.dumps(_template))
    tree["statements"][0]["node"]["select_list"] = [{**expression, "alias": ""}]
    text = con.execute("SELECT json_deserialize_sql(?::JSON)", [json.dumps(tree)]).fetchone()[0]
    prefix = "SELECT "
    if not isinstance(text, str) or not text.startswith(prefix):
        raise ValueError("DuckDB could not render an expression")
    return text[len(prefix) :]


def _aggregate_names() -> frozenset[str]:
    names = getattr(_parsers, "aggregates", None)
    if names is None:
        rows = _connection().execute(
            "SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
            "WHERE function_type = 'aggregate'"
        )
        names = frozenset(r[0] for r in rows.fetchall()) | COUNT_AGGREGATES
        _parsers.aggregates = names
    return names


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _classes(node: Any) -> set[str]:
    return {str(n.get("class")) for n in _nodes(node) if "class" in n}


def _has_aggregate(node: Any) -> bool:
    names = _aggregate_names()
    return any(
        n.get("class") == "FUNCTION" and str(n.get("function_name", "")).lower() in names
        for n in _nodes(node)
    )


# -- shape -------------------------------------------------------------------------------------


@dataclass
class _Statistic:
    name: str
    function: str
    node: dict[str, Any]
    argument: dict[str, Any] | None
    filter: dict[str, Any] | None


def derive(
    sql: str,
    tables: Mapping[str, TableFacts],
    output_names: Sequence[str],
    sketch_key: bytes,
) -> Derivation:
    """The hub's own evidence query for the researcher's ``sql`` (see the module docstring).

    ``tables`` maps the granted table names to their catalog facts,
    ``output_names`` are the column names of the researcher's result (the
    released table keeps them), ``sketch_key`` keys the person hashes of the
    differencing sketches (it appears in the SQL: never log that SQL).
    """
    node = _parse(sql)
    if node is None:
        return _unverified("the hub could not parse the query as one SELECT")
    if node.get("type") == "SET_OPERATION_NODE":
        if any(_plain_rows(b) for b in _set_branches(node)):
            return _row_level("a branch of the UNION/EXCEPT/INTERSECT returns rows, not cells")
        return _unverified(
            "the result combines several queries (UNION/EXCEPT/INTERSECT): the hub cannot "
            "say which persons are behind each row"
        )
    if node.get("type") != "SELECT_NODE":
        return _unverified("the query is not a plain SELECT")
    if _plain_rows(node):
        return _row_level(
            "the query has no GROUP BY and no aggregate: it returns rows, not aggregate cells"
        )
    windows = {"WINDOW"} & _classes([node.get("select_list"), node.get("having")])
    if windows or node.get("qualify"):
        return _unverified("window functions or QUALIFY over an aggregate: not derivable")
    from_table = node.get("from_table") or {}
    if from_table.get("type") != "BASE_TABLE":
        what = {
            "JOIN": "a join",
            "SUBQUERY": "a subquery in FROM",
            "TABLE_FUNCTION": "a table function",
            "EMPTY": "no table",
        }
        kind = what.get(str(from_table.get("type")), "a FROM clause the hub does not read")
        return _unverified(f"the query reads {kind}: the hub derives one granted table at a time")
    if (node.get("cte_map") or {}).get("map"):
        return _unverified("the query defines CTEs (WITH): the hub cannot follow them")
    table = _granted_name(from_table, tables)
    if table is None:
        return _unverified("the query reads a table the hub does not catalogue")
    facts = tables[table]
    if facts.person is None:
        return _unverified(f"the catalog names no person column for {table!r}")
    qualifier = str(from_table.get("alias") or from_table.get("table_name"))
    return _derive_select(node, table, qualifier, facts, list(output_names), sketch_key)


def _set_branches(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The SELECTs a UNION/EXCEPT/INTERSECT combines, however nested."""
    children = [node.get("left"), node.get("right"), *(node.get("children") or [])]
    seen: set[int] = set()
    for child in children:
        if not isinstance(child, dict) or id(child) in seen:
            continue
        seen.add(id(child))
        if child.get("type") == "SET_OPERATION_NODE":
            yield from _set_branches(child)
        else:
            yield child


def _plain_rows(node: dict[str, Any]) -> bool:
    """No GROUP BY and no aggregate outside a window: one output row per input row."""
    if node.get("type") != "SELECT_NODE":
        return False
    if node.get("group_expressions") or node.get("aggregate_handling") == "FORCE_AGGREGATES":
        return False
    items = [_strip_windows(i) for i in node.get("select_list", [])]
    return not any(_has_aggregate(i) for i in items)


def _strip_windows(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("class") == "WINDOW":
            return {}
        return {k: _strip_windows(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_strip_windows(v) for v in node]
    return node


def _granted_name(from_table: dict[str, Any], tables: Mapping[str, TableFacts]) -> str | None:
    if str(from_table.get("schema_name", "")).lower() not in ("", "main"):
        return None
    wanted = str(from_table.get("table_name", "")).lower()
    return next((name for name in tables if name.lower() == wanted), None)


def _normal(node: Any, qualifier: str, table: str) -> Any:
    """An expression with aliases, positions and the table qualifier removed (to compare)."""
    if isinstance(node, dict):
        out = {k: _normal(v, qualifier, table) for k, v in node.items() if k not in _VOLATILE_KEYS}
        names = out.get("column_names")
        if (
            node.get("class") == "COLUMN_REF"
            and isinstance(names, list)
            and len(names) > 1
            and str(names[0]).lower() in (qualifier.lower(), table.lower())
        ):
            out["column_names"] = names[1:]
        return out
    if isinstance(node, list):
        return [_normal(v, qualifier, table) for v in node]
    return node


def _columns_read(node: Any, qualifier: str, table: str) -> set[str]:
    out: set[str] = set()
    for n in _nodes(_normal(node, qualifier, table)):
        if n.get("class") == "COLUMN_REF" and n.get("column_names"):
            out.add(str(n["column_names"][0]).lower())
    return out


def _derive_select(
    node: dict[str, Any],
    table: str,
    qualifier: str,
    facts: TableFacts,
    output_names: list[str],
    sketch_key: bytes,
) -> Derivation:
    select_list: list[dict[str, Any]] = list(node.get("select_list", []))
    if len(output_names) != len(select_list) or len(set(output_names)) != len(output_names):
        return _unverified("the result's columns do not match the query's select list one to one")
    reserved = [n for n in output_names if n.lower().startswith(EVIDENCE_PREFIX)]
    if reserved:
        return _unverified(f"the column {reserved[0]!r} uses the hub's reserved prefix")
    handling = node.get("aggregate_handling")
    if handling not in (None, "STANDARD_HANDLING", "FORCE_AGGREGATES"):
        return _unverified("this GROUP BY form is not derivable; name the GROUP BY expressions")
    for modifier in node.get("modifiers", []) or []:
        if modifier.get("type") != "ORDER_MODIFIER":
            return _unverified("LIMIT/OFFSET/DISTINCT choose which cells appear: not derivable")
    if node.get("sample"):
        return _unverified("a SAMPLE clause: not derivable")
    sets = node.get("group_sets") or []
    groups_raw: list[dict[str, Any]] = list(node.get("group_expressions", []))
    if handling == "FORCE_AGGREGATES":  # GROUP BY ALL: every selected non-aggregate
        groups_raw = [i for i in select_list if not _has_aggregate(_strip_windows(i))]
        sets = [list(range(len(groups_raw)))] if groups_raw else []
    if len(sets) > 1:
        return _unverified("GROUPING SETS, ROLLUP or CUBE: not derivable")
    groups = _resolve_groups(groups_raw, select_list, facts, qualifier, table)
    if groups is None:
        return _unverified("a GROUP BY expression the hub cannot resolve")
    identifying = {c.lower() for c in facts.identifying} | {str(facts.person).lower()}
    for g in groups:
        if _columns_read(g, qualifier, table) & identifying:
            return _row_level(
                "the query groups by a person, pseudonym or identifier column: one row per person"
            )
        if {"SUBQUERY", "WINDOW"} & _classes(g) or _has_aggregate(g):
            return _unverified("a GROUP BY expression with a subquery, window or aggregate")
    normal_groups = [_normal(g, qualifier, table) for g in groups]
    group_names: list[str | None] = [None] * len(groups)
    statistics: list[_Statistic] = []
    for name, item in zip(output_names, select_list, strict=True):
        normal = _normal(item, qualifier, table)
        if normal in normal_groups:
            index = normal_groups.index(normal)
            if group_names[index] is None:
                group_names[index] = name
                continue
        outcome = _statistic(name, item, identifying, qualifier, table)
        if isinstance(outcome, Derivation):
            return outcome
        statistics.append(outcome)
    if any(n is None for n in group_names):
        return _unverified("every GROUP BY expression must be selected, so that each cell is named")
    if not statistics:
        return _row_level("the query selects no aggregate: its cells carry no statistic")
    where = node.get("where_clause")
    having = node.get("having")
    for clause, what in ((where, "WHERE"), (having, "HAVING")):
        if clause is not None and "SUBQUERY" in _classes(clause):
            return _unverified(f"a subquery in {what}: the hub cannot follow it")
    review: list[str] = []
    filters = [where, *(s.filter for s in statistics)]
    if any(c is not None and _columns_read(c, qualifier, table) & identifying for c in filters):
        review.append(
            "a filter reads a person, pseudonym or identifier column: it may single someone out"
        )
    if having is not None:
        review.append(
            "HAVING decides which cells appear: the presence of a cell can disclose; check it"
        )
    assert all(n is not None for n in group_names)
    return _build(
        table,
        qualifier,
        str(facts.person),
        groups,
        [str(n) for n in group_names],
        statistics,
        where,
        having,
        tuple(review),
        sketch_key,
    )


def _resolve_groups(
    groups: list[dict[str, Any]],
    select_list: list[dict[str, Any]],
    facts: TableFacts,
    qualifier: str,
    table: str,
) -> list[dict[str, Any]] | None:
    columns = {c.lower() for c in facts.columns}
    aliases = {str(i.get("alias", "")).lower(): i for i in select_list if i.get("alias")}
    out: list[dict[str, Any]] = []
    for g in groups:
        if g.get("class") == "CONSTANT":
            literal = g.get("literal", {})
            text = str(literal.get("text", ""))
            if not text.isdigit() or not 1 <= int(text) <= len(select_list):
                return None
            out.append(select_list[int(text) - 1])
            continue
        names = _normal(g, qualifier, table).get("column_names")
        if g.get("class") == "COLUMN_REF" and isinstance(names, list) and len(names) == 1:
            name = str(names[0]).lower()
            if name not in columns and name in aliases:
                out.append(aliases[name])
                continue
        out.append(g)
    return out


def _statistic(
    name: str, item: dict[str, Any], identifying: set[str], qualifier: str, table: str
) -> _Statistic | Derivation:
    function = str(item.get("function_name", "")).lower()
    if item.get("class") == "WINDOW":
        return _unverified(f"the column {name!r} is a window function")
    if item.get("class") != "FUNCTION" or function not in _aggregate_names():
        return _unverified(
            f"the column {name!r} is neither a GROUP BY expression nor an aggregate the hub "
            "can re-derive (a constant, or an expression over aggregates)"
        )
    if function in ROW_LEVEL_AGGREGATES:
        return _row_level(f"{function}() in {name!r} returns the values themselves")
    arguments = [a.get("expression") for a in item.get("arguments", []) if isinstance(a, dict)]
    reads = (
        set().union(*(_columns_read(a, qualifier, table) for a in arguments))
        if arguments
        else set()
    )
    if function not in COUNT_AGGREGATES and reads & identifying:
        return _row_level(f"{function}() in {name!r} reads a person or identifier column")
    if {"SUBQUERY", "WINDOW"} & _classes(arguments) or any(_has_aggregate(a) for a in arguments):
        return _unverified(f"the aggregate in {name!r} nests a subquery, window or aggregate")
    known = COUNT_AGGREGATES | MAGNITUDE_AGGREGATES | ORDER_STATISTICS
    if function not in known:
        return _unverified(f"{function}() in {name!r} is an aggregate the hub does not derive")
    if item.get("distinct") and function != "count":
        return _unverified(f"{function}(DISTINCT ...) in {name!r}: not derivable")
    if function == "count" and len(arguments) != 1:
        return _unverified(f"count() in {name!r} with several arguments")
    argument = arguments[0] if arguments else None
    return _Statistic(name, function, item, argument, item.get("filter"))


# -- the hub's SQL -----------------------------------------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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


def _build(
    table: str,
    qualifier: str,
    person: str,
    groups: list[dict[str, Any]],
    group_names: list[str],
    statistics: list[_Statistic],
    where: dict[str, Any] | None,
    having: dict[str, Any] | None,
    review: tuple[str, ...],
    sketch_key: bytes,
) -> Derivation:
    source = f"{_quote(table)} AS {_quote(qualifier)}"
    where_sql = f" WHERE {render(where)}" if where is not None else ""
    keys = [f"_hub_g{i}" for i in range(len(groups))]
    group_select = "".join(f"{render(g)} AS {k}, " for g, k in zip(groups, keys, strict=True))
    group_by = ", ".join(render(g) for g in groups)
    person_sql = f"{_quote(qualifier)}.{_quote(person)}"
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
    for j, s in enumerate(statistics):
        evidence_cols.append(f"count(*) FILTER (WHERE _hub_k{j} > 0) AS _hub_n{j}")
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
    kept = (
        "_hub_kept AS (SELECT DISTINCT h._hub_p, h._hub_h FROM _hub_hashed h"
        + (
            " JOIN _hub_cells c ON "
            + " AND ".join(f"h.{k} IS NOT DISTINCT FROM c.{k}" for k in keys)
            if keys
            else ""
        )
        + ")"
    )
    whole = (
        f"_hub_all AS (SELECT count(*) AS _hub_all_n, min(_hub_h, {SKETCH_SIZE}) AS "
        "_hub_all_sketch, bit_xor(_hub_h) AS _hub_all_xor FROM _hub_kept)"
    )
    persons = ", ".join(
        ["coalesce(e._hub_n, 0)", *(f"coalesce(e._hub_n{j}, 0)" for j in range(len(statistics)))]
    )
    outputs = [f"c.{k} AS {_quote(n)}" for k, n in zip(keys, group_names, strict=True)]
    outputs += [f"c._hub_s{j} AS {_quote(s.name)}" for j, s in enumerate(statistics)]
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
    return Derivation(
        "derived",
        (),
        sql,
        spec,
        review,
        table,
        ("_hub_cell_n", "_hub_sketch", "_hub_xor", "_hub_all_n", "_hub_all_sketch", "_hub_all_xor"),
    )
