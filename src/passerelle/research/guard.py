"""The first wall of the sandbox: a pure decision on the SQL text, before any data is opened.

DuckDB's own parser reads the statement (``extract_statements`` for the count
and type, ``json_serialize_sql`` for the tree); the tree is walked for every
table, table function and function named.  The decision needs no data and no
granted files: it is a function of the SQL and the granted table names.
DuckDB's settings (no external access, locked configuration) are the second
wall, applied by :mod:`passerelle.research.sandbox`.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ALLOWED_TABLE_FUNCTIONS",
    "DENIED_FUNCTIONS",
    "Refusal",
    "SqlCheck",
    "check_sql",
    "statement_digest",
]

ALLOWED_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
"""Table functions that read nothing outside the query: the only ones allowed in ``FROM``."""

DENIED_FUNCTIONS = frozenset(
    {
        "getenv",
        "current_setting",
        "current_query",
        "getvariable",
        "which_secret",
        "json_deserialize_sql",
        "json_serialize_sql",
        "json_execute_serialized_sql",
        "query",
        "query_table",
        "glob",
        "sniff_csv",
        "version",
        "platform",
        "user_agent",
        "checkpoint",
        "force_checkpoint",
        "import_database",
        "copy_database",
    }
)
"""Functions refused wherever they appear (environment, settings, dynamic SQL, files)."""

_DENIED_PREFIXES = ("duckdb_", "pragma_", "read_", "parquet_", "enable_", "disable_", "json_exec")
_FILE_FUNCTIONS = ("read_", "parquet_", "glob", "sniff_csv", "import_database", "copy_database")

_STATEMENT_REASONS = {
    "ATTACH": ("attach", "attaching a database"),
    "DETACH": ("attach", "detaching a database"),
    "COPY": ("copy", "COPY (reading or writing files)"),
    "COPY_DATABASE": ("copy", "COPY DATABASE"),
    "EXPORT": ("export", "EXPORT DATABASE"),
    "LOAD": ("extension", "installing or loading extensions"),
    "SET": ("setting", "changing a setting"),
    "VARIABLE_SET": ("setting", "changing a setting"),
    "PRAGMA": ("setting", "PRAGMA statements"),
    "CALL": ("setting", "CALL statements"),
    "CREATE": ("ddl", "creating objects (tables, views, macros, secrets)"),
    "DROP": ("ddl", "dropping objects"),
    "ALTER": ("ddl", "altering objects"),
    "INSERT": ("dml", "modifying data"),
    "UPDATE": ("dml", "modifying data"),
    "DELETE": ("dml", "modifying data"),
    "MERGE_INTO": ("dml", "modifying data"),
    "MULTI": ("statement", "PIVOT statements (write the pivot in a SELECT)"),
}

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # whole string: fullmatch


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a query is refused: a stable ``reason`` code for the audit log and one sentence."""

    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class SqlCheck:
    """The guard's decision: the tables a query reads, or the refusal."""

    digest: str
    tables: tuple[str, ...] = ()
    refusal: Refusal | None = None

    @property
    def allowed(self) -> bool:
        return self.refusal is None


def statement_digest(sql: str) -> str:
    """SHA-256 (hex) of the statement text exactly as submitted."""
    return hashlib.sha256(sql.encode("utf-8")).hexdigest()


def check_sql(sql: str, granted: Mapping[str, str] | frozenset[str] | set[str]) -> SqlCheck:
    """Decide whether ``sql`` may run when only the ``granted`` table names are visible.

    Exactly one ``SELECT`` (including ``WITH``, ``DESCRIBE``/``SUMMARIZE`` of a
    granted table) is allowed; it may read granted tables, its own CTEs and
    ``range``/``generate_series``/``unnest``, and call no function that reads
    files, settings, secrets or the environment.  Names compare case-insensitively.
    """
    digest = statement_digest(sql)
    refusal, tables = _decide(sql, {name.lower() for name in granted})
    if refusal is not None:
        return SqlCheck(digest, (), refusal)
    by_lower = {name.lower(): name for name in granted}
    return SqlCheck(digest, tuple(sorted(by_lower[t] for t in tables)))


def _decide(sql: str, granted: set[str]) -> tuple[Refusal | None, set[str]]:
    import duckdb

    if "\x00" in sql:
        return Refusal("syntax", "The query contains a NUL character; remove it."), set()
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        return Refusal("syntax", f"The query cannot be parsed: {_first_line(exc)}."), set()
    if len(statements) != 1:
        what = "no statement" if not statements else f"{len(statements)} statements"
        return Refusal(
            "multiple-statements", f"The sandbox runs exactly one statement, not {what}."
        ), set()
    kind = statements[0].type.name
    if kind != "SELECT":
        code, what = _STATEMENT_REASONS.get(kind, ("statement", f"{kind} statements"))
        return Refusal(code, f"The sandbox refuses {what}; send one SELECT query."), set()
    tree = serialize_statement(sql)
    if tree is None:
        return Refusal("syntax", "The query cannot be parsed as one SELECT."), set()
    return _walk_tree(tree, granted)


_parsers = threading.local()


def parser_connection() -> Any:
    """This thread's parse-only DuckDB connection (no data, used for ``json_serialize_sql``)."""
    import duckdb

    con = getattr(_parsers, "con", None)
    if con is None:
        con = duckdb.connect(":memory:")
        _parsers.con = con
    return con


def serialize_statement(sql: str) -> Any:
    """The parse tree of the one statement in ``sql``, or ``None``."""
    row = parser_connection().execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()
    tree = json.loads(row[0]) if row else None
    if not isinstance(tree, dict) or tree.get("error") or len(tree.get("statements", [])) != 1:
        return None
    return tree["statements"][0]


def tree_nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every object in a parse tree."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _cte_names(tree: Any) -> set[str]:
    names: set[str] = set()
    for node in tree_nodes(tree):
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            for entry in cte_map.get("map", []):
                if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                    names.add(entry["key"].lower())
    return names


def _function_refusal(name: str) -> Refusal | None:
    if name in DENIED_FUNCTIONS or name.startswith(_DENIED_PREFIXES) or "secret" in name:
        if name.startswith(_FILE_FUNCTIONS):
            return Refusal(
                "file-access",
                f"The sandbox refuses {name}(): only the granted datasets can be read, "
                "by their table names.",
            )
        return Refusal(
            "function", f"The sandbox refuses {name}(): it reveals or changes the environment."
        )
    return None


def _walk_tree(tree: Any, granted: set[str]) -> tuple[Refusal | None, set[str]]:
    ctes = _cte_names(tree)
    for cte in ctes:
        if not _PLAIN_NAME.fullmatch(cte):
            return Refusal(
                "name", f"The CTE name {cte!r} is not a plain identifier; rename it."
            ), set()
    tables: set[str] = set()
    for node in tree_nodes(tree):
        kind = node.get("type")
        if node.get("class") == "FUNCTION":
            refusal = _function_refusal(str(node.get("function_name", "")).lower())
            if refusal is not None:
                return refusal, set()
        if kind == "TABLE_FUNCTION":
            function = node.get("function") or {}
            name = str(function.get("function_name", "")).lower()
            refusal = _function_refusal(name)
            if refusal is not None:
                return refusal, set()
            if name not in ALLOWED_TABLE_FUNCTIONS:
                return Refusal(
                    "table-function",
                    f"The sandbox refuses the table function {name}(); read the granted "
                    "datasets by their table names.",
                ), set()
        elif kind == "BASE_TABLE":
            refusal, table = _table_refusal(node, granted, ctes)
            if refusal is not None:
                return refusal, set()
            if table is not None:
                tables.add(table)
        elif kind == "SHOW_REF":
            refusal, table = _show_refusal(node, granted)
            if refusal is not None:
                return refusal, set()
            if table is not None:
                tables.add(table)
    return None, tables


def _table_refusal(
    node: dict[str, Any], granted: set[str], ctes: set[str]
) -> tuple[Refusal | None, str | None]:
    name = str(node.get("table_name", ""))
    schema = str(node.get("schema_name", "")).lower()
    catalog = str(node.get("catalog_name", "")).lower()
    lowered = name.lower()
    if not schema and not catalog and lowered in ctes:
        return None, None
    if schema in ("", "main") and catalog in ("", "memory", "temp") and lowered in granted:
        return None, lowered
    if not _PLAIN_NAME.fullmatch(name):
        return Refusal(
            "file-access",
            f"The sandbox refuses to read {name!r}: only the granted datasets can be read, "
            "by their table names.",
        ), None
    return Refusal(
        "not-granted",
        f"No granted dataset is called {_qualified(catalog, schema, name)!r}; "
        "list the project's granted datasets.",
    ), None


def _show_refusal(node: dict[str, Any], granted: set[str]) -> tuple[Refusal | None, str | None]:
    if node.get("query") is not None:
        return None, None  # DESCRIBE/SUMMARIZE (SELECT ...): the inner query is walked too
    name = str(node.get("table_name", "")).strip('"').lower()
    if node.get("show_type") == "SHOW_SPECIAL" or name not in granted:
        return Refusal(
            "introspection",
            "The sandbox only describes granted datasets; write DESCRIBE <dataset>.",
        ), None
    return None, name


def _qualified(catalog: str, schema: str, name: str) -> str:
    return ".".join(part for part in (catalog, schema, name) if part)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.rstrip(".")
