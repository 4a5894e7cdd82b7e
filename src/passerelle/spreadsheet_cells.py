"""CSV cells that a spreadsheet opens as text, never as a formula (pure).

A CSV the hub writes for people (a query's result, a released table, the audit export)
holds text that users chose: a researcher's string literal, a release reason, a
dataset's description, a query's text. Excel, LibreOffice and Google Sheets evaluate a
cell that begins with ``=``, ``+``, ``-`` or ``@`` (and some a tab or carriage return
first) as a formula, which can run commands or send the sheet's other cells away
(``=HYPERLINK(...)``, ``=WEBSERVICE(...)``, DDE). Such a cell is written with a leading
apostrophe, which spreadsheets show as text (OWASP's "CSV injection" advice). Numbers are
numbers and are left alone, and so is signed text that is a plain number, date, timestamp,
time or infinity (``-9223372036854775808``, ``-12.5e3``, ``-0044-03-15``, ``-infinity``:
the exact forms of big integers, decimals and dates), which names no cell and no function.
The exact text is in the JSON and Parquet formats.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

__all__ = ["FORMULA_START", "safe_cell", "safe_table"]

FORMULA_START = "=+-@\t\r\uff1d\uff0b\uff0d\uff20"
"""What a spreadsheet may read as the start of a formula (with the full-width forms)."""

_PATTERN = "^[=+\\-@\\t\\r\uff1d\uff0b\uff0d\uff20]"  # FORMULA_START, for re and RE2
_RISKY = re.compile(_PATTERN)
# A signed number (``-12.5e3``, ``-1,000``), date or timestamp (``-0044-03-15 12:00:00+00``),
# time or duration (``-1:30``), or infinity: no letter outside an exponent, a ``T`` or a ``Z``
# in their places, so never a cell reference (``-E1``) nor a function.
_PLAIN_CORE = (
    r"[+-](?:\d[\d.:,]*(?:[eE][+-]?\d+)?"
    r"|\d{4,}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
    r"|infinity|inf|nan)"
)
_SIGNED_PLAIN = f"^(?:{_PLAIN_CORE})$"  # for Arrow's RE2, whose $ is the end of the text
_PLAIN = re.compile(_PLAIN_CORE, re.IGNORECASE)  # fullmatch: Python's $ allows a last \n


def safe_cell(value: Any) -> Any:
    """``value``, with an apostrophe in front when it is text a spreadsheet would run."""
    if isinstance(value, str) and _RISKY.match(value) and not _PLAIN.fullmatch(value):
        return "'" + value
    return value


def safe_table(table: pa.Table) -> pa.Table:
    """``table`` with :func:`safe_cell` applied to every text column (Arrow kernels)."""
    import pyarrow as pa
    import pyarrow.compute as pc  # type: ignore[import-untyped]
    import pyarrow.types as pat  # type: ignore[import-untyped]

    columns = []
    for column in table.columns:
        kind = column.type
        if pat.is_dictionary(kind):
            column = column.cast(kind.value_type)
            kind = kind.value_type
        if pat.is_string(kind) or pat.is_large_string(kind):
            risky = pc.and_(
                pc.match_substring_regex(column, pattern=_PATTERN),
                pc.invert(
                    pc.match_substring_regex(column, pattern=_SIGNED_PLAIN, ignore_case=True)
                ),
            )
            quoted = pc.binary_join_element_wise(pa.scalar("'", kind), column, pa.scalar("", kind))
            column = pc.if_else(pc.fill_null(risky, False), quoted, column)
        columns.append(column)
    return pa.table(columns, names=table.column_names)
