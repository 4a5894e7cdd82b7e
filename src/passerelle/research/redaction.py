"""Errors of the sandbox by kind, with a message that carries no data value (pure).

DuckDB's messages quote the values that broke a query: ``error(string_agg(nir,
','))`` puts every NIR in the text, a failed ``CAST`` names the row's value, a
JSON function prints its input.  Such text must reach neither the researcher
(it is a way to read rows out) nor the audit log (auditors export it).

:func:`redact_engine_error` takes DuckDB's exception class name and message, the
researcher's SQL and the names of the granted schema, and returns a
:class:`SandboxError`: a ``kind`` (when in the query's life it failed), a stable
``reason`` and a ``message`` that is either a fixed template (every error raised
on data: conversion, out of range, invalid input, ``error()``, constraints,
anything unknown) or, for errors raised before any data is read (binder and
catalog errors), DuckDB's first line with every word that is not in the SQL text,
the granted names or a fixed vocabulary of DuckDB's own words replaced by ``…``.
A query that pivots (``PIVOT`` reads the data to name its columns) gets the
template too.  The child process applies this before anything leaves it, so the
raw text never reaches the parent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DATA_KINDS",
    "ErrorKind",
    "SandboxError",
    "fixed_message",
    "redact_engine_error",
    "redact_text",
]

ErrorKind = Literal["rule", "syntax", "binding", "data", "resource", "engine"]
"""``rule``: the sandbox refused it; ``syntax``/``binding``: DuckDB refused the SQL
before reading data; ``data``: it failed on a value; ``resource``: a limit stopped
it; ``engine``: anything else."""

DATA_KINDS = frozenset({"data", "engine"})


@dataclass(frozen=True, slots=True)
class SandboxError:
    """What a failed query is recorded as: no value of the data in any field."""

    kind: ErrorKind
    reason: str
    message: str
    decision: Literal["refused", "error"] = "error"


_PLACEHOLDER = "…"

_DATA_TEMPLATES: dict[str, tuple[str, str]] = {
    "ConversionException": (
        "data-conversion",
        "A value of the data could not be converted to the type the query asks for "
        "(a CAST or an implicit conversion); use TRY_CAST or filter the rows first.",
    ),
    "OutOfRangeException": (
        "data-out-of-range",
        "A computation on the data went out of range (an overflow, or a value too large "
        "for its type); cast to a wider type or filter the rows first.",
    ),
    "InvalidInputException": (
        "data-invalid-input",
        "A function met input it cannot process (error(), parsing text or dates, a regular "
        "expression, JSON, a division by zero, a subquery returning more than one row...); "
        "check the functions' inputs.",
    ),
    "TypeMismatchException": (
        "data-type-mismatch",
        "Values of the data do not have the type an operation needs; add explicit casts.",
    ),
    "ConstraintException": (
        "data-constraint",
        "A value of the data breaks a constraint of the query (a unique key, a non-null "
        "value, a list or map rule); check the inputs.",
    ),
}
_DATA_FALLBACK = (
    "data-error",
    "DuckDB stopped on the data; no detail is shown because it could contain data values.",
)
_ENGINE = (
    "engine-failure",
    "DuckDB failed while running the query; no detail is shown because it could contain "
    "data values. Simplify the query, or ask the hub's operators if it persists.",
)
_BINDING_CLASSES = frozenset({"BinderException", "CatalogException", "ParserException"})
_DATA_CLASSES = frozenset(
    {"DataError", "NotImplementedException", "SequenceException", "DependencyException"}
)

# Words DuckDB's binder and catalog messages are made of (and SQL keywords and type
# names); any other word of a message is kept only if the researcher wrote it.
_VOCABULARY = frozenset(
    """
    a about add aggregate aggregates alias aliases all allowed ambiguous an and any appear
    applied apply are argument arguments array as at be between binder bindings both but by
    call can candidate candidates cannot case cast casts catalog clause column columns compile
    constant contain contains could cte data default defined did distinct do does duplicate
    each either empty entry error exclude exist exists explicit expected expression
    expressions failed filter find first for found from function functions given group
    grouping having in index input into invalid is it join key keys lambda lateral left
    limit list macro match matches may mean might missing more must name named names need
    no non not nothing number of offset on one only operations or order out over parameter
    parameters part positional qualify range recursive reference referenced regex replace
    requires result right same scalar schema select selected set should side single star
    statement struct subquery subqueries support supported table tables term than that the
    this to type types union unknown unnest use used using values view where window with
    within wrong you your
    bigint bit blob boolean date decimal double enum float hugeint integer interval json map
    smallint time timestamp timestamptz tinyint ubigint uhugeint uinteger usmallint utinyint
    uuid varchar int8 int16 int32 int64 int128 uint8 uint16 uint32 uint64 uint128 string
    literal tz
    """.split()  # noqa: SIM905 - a word list reads better as text
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
_PREFIX = re.compile(r"^[A-Za-z ]*Error:\s*")


def fixed_message(reason: str) -> str | None:
    """The fixed sentence of a data or engine ``reason`` (``None`` for other reasons)."""
    for code, text in (*_DATA_TEMPLATES.values(), _DATA_FALLBACK, _ENGINE):
        if code == reason:
            return text
    return None


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def redact_text(text: str, known: Iterable[str]) -> str:
    """``text`` with every word not in ``known`` (lower-case) or DuckDB's vocabulary, and
    every quoted segment that is not one known word, replaced by ``…`` (pure)."""
    allowed = _VOCABULARY | {w.lower() for w in known}

    def quoted(match: re.Match[str]) -> str:
        inner = match.group(0)[1:-1]
        whole = inner.lower() in allowed and _WORD.fullmatch(inner) is not None
        return match.group(0) if whole else match.group(0)[0] + _PLACEHOLDER + match.group(0)[0]

    def word(match: re.Match[str]) -> str:
        return match.group(0) if match.group(0).lower() in allowed else _PLACEHOLDER

    parts = []
    last = 0
    for match in _QUOTED.finditer(text):
        parts.append(_WORD.sub(word, text[last : match.start()]))
        parts.append(quoted(match))
        last = match.end()
    parts.append(_WORD.sub(word, text[last:]))
    return "".join(parts)


def redact_engine_error(
    class_name: str, message: str, sql: str, names: Iterable[str] = ()
) -> SandboxError:
    """The recorded form of a DuckDB exception (``type(exc).__name__``, ``str(exc)``) raised
    while running ``sql`` over tables and columns called ``names``."""
    if class_name in _DATA_TEMPLATES:
        reason, text = _DATA_TEMPLATES[class_name]
        return SandboxError("data", reason, text)
    if class_name not in _BINDING_CLASSES:
        reason, text = _DATA_FALLBACK if class_name in _DATA_CLASSES else _ENGINE
        return SandboxError("data" if class_name in _DATA_CLASSES else "engine", reason, text)
    if re.search(r"pivot", sql, re.IGNORECASE):  # PIVOT names columns after data values
        return SandboxError(
            "binding",
            "invalid-query",
            "DuckDB cannot bind the query (a name, a type or a function's arguments); details "
            "are not shown for a query that pivots, since its columns are named by data.",
        )
    first = message.strip().splitlines()[0] if message.strip() else ""
    body = redact_text(_PREFIX.sub("", first), _words(sql) | {n.lower() for n in names})
    body = body.strip().rstrip(".!") or "the query is not valid"
    return SandboxError("binding", "invalid-query", f"DuckDB cannot run the query: {body}.")
