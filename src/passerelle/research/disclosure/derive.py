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

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from passerelle.errors import UsageError
from passerelle.research.disclosure.evidence_sql import (
    COUNT_AGGREGATES,
    EVIDENCE_PREFIX,
    MAGNITUDE_AGGREGATES,
    ORDER_STATISTICS,
    ROW_LEVEL_AGGREGATES,
    SKETCH_COLUMNS,
    SKETCH_SIZE,
    Statistic,
    build_evidence_sql,
    statistic_sketch_columns,
    whole_statistic_sketch_columns,
)
from passerelle.research.disclosure.parse_tree import (
    aggregate_names,
    classes,
    has_aggregate,
    nodes,
    parse_select,
    render,
)
from passerelle.research.disclosure.spec import TableSpec

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
    "render",
]

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


# -- shape ------------------------------------------------------------------------------------


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
    node = parse_select(sql)
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
    windows = {"WINDOW"} & classes([node.get("select_list"), node.get("having")])
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
    try:
        return _derive_select(node, table, qualifier, facts, list(output_names), sketch_key)
    except (ValueError, KeyError, TypeError, UsageError) as exc:  # a tree or name it cannot write
        return _unverified(f"the hub could not write its evidence query ({type(exc).__name__})")


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
    return not any(has_aggregate(i) for i in items)


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
    for n in nodes(_normal(node, qualifier, table)):
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
        groups_raw = [i for i in select_list if not has_aggregate(_strip_windows(i))]
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
        if {"SUBQUERY", "WINDOW"} & classes(g) or has_aggregate(g):
            return _unverified("a GROUP BY expression with a subquery, window or aggregate")
    normal_groups = [_normal(g, qualifier, table) for g in groups]
    group_names: list[str | None] = [None] * len(groups)
    statistics: list[Statistic] = []
    for name, item in zip(output_names, select_list, strict=True):
        normal = _normal(item, qualifier, table)
        if normal in normal_groups:
            index = normal_groups.index(normal)
            if group_names[index] is None:
                group_names[index] = name
                continue
        outcome = _statistic(name, item, identifying, facts.columns, qualifier, table)
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
        if clause is not None and "SUBQUERY" in classes(clause):
            return _unverified(f"a subquery in {what}: the hub cannot follow it")
    review: list[str] = []
    filters = [where, *(s.filter for s in statistics)]
    if any(c is not None and _columns_read(c, qualifier, table) & identifying for c in filters):
        review.append(
            "a filter reads a person, pseudonym or identifier column: it may single someone out"
        )
    for s in statistics:
        if s.function not in MAGNITUDE_AGGREGATES or s.argument is None:
            continue
        summed = _columns_read(s.argument, qualifier, table)
        chosen = [where, having, s.filter, *groups]
        if any(c is not None and _columns_read(c, qualifier, table) & summed for c in chosen):
            # WHERE age = 97 OR cost = 100: every other contribution is a value the
            # researcher chose, so dominance says nothing; the cell gives a7's cost
            review.append(
                f"a filter or group of {s.name!r} reads the column it sums or averages: "
                "the other contributions may be known, so one person's value may be disclosed"
            )
            break
    if having is not None:
        review.append(
            "HAVING decides which cells appear: the presence of a cell can disclose; check it"
        )
    assert all(n is not None for n in group_names)
    sql, spec = build_evidence_sql(
        table,
        qualifier,
        str(facts.person),
        groups,
        [str(n) for n in group_names],
        statistics,
        where,
        having,
        sketch_key,
    )
    sketches = SKETCH_COLUMNS + tuple(
        c
        for j in range(len(statistics))
        for c in (*statistic_sketch_columns(j), *whole_statistic_sketch_columns(j))
    )
    return Derivation("derived", (), sql, spec, tuple(review), table, sketches)


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


def _plain_column(node: Any, columns: frozenset[str], qualifier: str, table: str) -> bool:
    """Whether ``node`` is one column of the table (optionally cast), nothing computed."""
    if isinstance(node, dict) and node.get("class") == "CAST":
        node = node.get("child")
    if not isinstance(node, dict) or node.get("class") != "COLUMN_REF":
        return False
    names = _normal(node, qualifier, table).get("column_names")
    known = {c.lower() for c in columns}
    return isinstance(names, list) and len(names) == 1 and str(names[0]).lower() in known


def _statistic(
    name: str,
    item: dict[str, Any],
    identifying: set[str],
    columns: frozenset[str],
    qualifier: str,
    table: str,
) -> Statistic | Derivation:
    function = str(item.get("function_name", "")).lower()
    if item.get("class") == "WINDOW":
        return _unverified(f"the column {name!r} is a window function")
    if item.get("class") != "FUNCTION" or function not in aggregate_names():
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
    if {"SUBQUERY", "WINDOW"} & classes(arguments) or any(has_aggregate(a) for a in arguments):
        return _unverified(f"the aggregate in {name!r} nests a subquery, window or aggregate")
    known = COUNT_AGGREGATES | MAGNITUDE_AGGREGATES | ORDER_STATISTICS
    if function not in known:
        return _unverified(f"{function}() in {name!r} is an aggregate the hub does not derive")
    if item.get("distinct") and function != "count":
        return _unverified(f"{function}(DISTINCT ...) in {name!r}: not derivable")
    if function in MAGNITUDE_AGGREGATES and not all(
        _plain_column(a, columns, qualifier, table) for a in arguments
    ):
        # sum(CASE WHEN age = 97 THEN cost ELSE 5 END): every other person's contribution
        # is a constant the researcher chose, so dominance says nothing about disclosure
        return _unverified(
            f"{function}() in {name!r} is over an expression, not a column: the other "
            "contributions may be values the researcher chose"
        )
    if function == "count" and len(arguments) != 1:
        return _unverified(f"count() in {name!r} with several arguments")
    argument = arguments[0] if arguments else None
    return Statistic(name, function, item, argument, item.get("filter"))
