"""Names and texts put into DuckDB SQL: the one place they are quoted.

The sandbox child (:mod:`passerelle.research.child`) and the disclosure queries
(:mod:`passerelle.research.disclosure.queries`) both build SQL around names that
come from outside the statement (granted dataset names, researchers' column
names).  This module imports nothing but :mod:`passerelle.errors`, so the child
can import it before it has read its job.
"""

from __future__ import annotations

from passerelle.errors import UsageError

__all__ = ["quote_identifier", "quote_literal"]


def quote_identifier(name: str) -> str:
    """``name`` as a DuckDB quoted identifier; an empty name or one holding NUL is refused.

    Quotes inside are doubled, so any other text stays one identifier.  DuckDB
    cannot hold a NUL or an empty name, so they are refused here, in one
    sentence, instead of failing later inside the engine.
    """
    if not name or "\x00" in name:
        raise UsageError(
            "A dataset, table or column name is empty or contains a NUL character; rename it."
        )
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a DuckDB string literal (a NUL is refused, as in a name)."""
    if "\x00" in text:
        raise UsageError("A path or text put into SQL contains a NUL character; remove it.")
    return "'" + text.replace("'", "''") + "'"
