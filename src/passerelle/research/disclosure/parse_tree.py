"""DuckDB's own parse tree, read and written back: the parser the hub's derivation uses.

``json_serialize_sql`` gives the tree of a statement (as the guard reads it);
``json_deserialize_sql`` turns an expression of it back into SQL text, so the
hub writes its evidence query from the researcher's own expressions and never
pastes their text.  One parse-only DuckDB connection per thread, no data.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from passerelle.research.guard import parser_connection as _connection
from passerelle.research.guard import serialize_statement, tree_nodes

__all__ = ["aggregate_names", "classes", "has_aggregate", "nodes", "parse_select", "render"]


def parse_select(sql: str) -> dict[str, Any] | None:
    """The parse tree of the one statement in ``sql`` (``None`` if it is not one)."""
    statement = serialize_statement(sql)
    node = statement.get("node") if isinstance(statement, dict) else None
    return node if isinstance(node, dict) else None


_template: dict[str, Any] = {}


def render(expression: dict[str, Any]) -> str:
    """One parsed expression back as DuckDB SQL (through ``json_deserialize_sql``);
    ``ValueError`` when DuckDB cannot write it back."""
    import duckdb

    con = _connection()
    if not _template:
        row = con.execute("SELECT json_serialize_sql('SELECT 1')").fetchone()
        _template.update(json.loads(row[0]))
    tree = json.loads(json.dumps(_template))
    tree["statements"][0]["node"]["select_list"] = [{**expression, "alias": ""}]
    try:
        row = con.execute("SELECT json_deserialize_sql(?::JSON)", [json.dumps(tree)]).fetchone()
    except duckdb.Error:
        raise ValueError("DuckDB could not render an expression") from None
    text = row[0] if row else None
    prefix = "SELECT "
    if not isinstance(text, str) or not text.startswith(prefix):
        raise ValueError("DuckDB could not render an expression")
    return text[len(prefix) :]


@cache
def aggregate_names() -> frozenset[str]:
    """Every aggregate function DuckDB knows, lower case (read once per process)."""
    rows = _connection().execute(
        "SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
        "WHERE function_type = 'aggregate'"
    )
    return frozenset(r[0] for r in rows.fetchall()) | frozenset({"count_star", "count"})


nodes = tree_nodes  # every object in a parse tree


def classes(node: Any) -> set[str]:
    """The expression classes (``FUNCTION``, ``SUBQUERY``, ``WINDOW``...) in a tree."""
    return {str(n.get("class")) for n in nodes(node) if "class" in n}


def has_aggregate(node: Any) -> bool:
    """Whether a tree calls an aggregate function anywhere."""
    names = aggregate_names()
    return any(
        n.get("class") == "FUNCTION" and str(n.get("function_name", "")).lower() in names
        for n in nodes(node)
    )
