"""CSV cells that a spreadsheet opens as text, never as a formula (pure).

A CSV the hub writes for people (a query's result, a released table, the audit export)
holds text that users chose: a researcher's string literal, a release reason, a
dataset's description, a query's text. Excel, LibreOffice and Google Sheets evaluate a
cell that begins with ``=``, ``+``, ``-`` or ``@`` (and some a tab or carriage return
first) as a formula, which can run commands or send the sheet's other cells away
(``=HYPERLINK(...)``, ``=WEBSERVICE(...)``, DDE). Such a cell is written with a leading
apostrophe, which spreadsheets show as text (OWASP's "CSV injection" advice). Numbers are
numbers and are left alone, and so is signed text made only of digits, signs, ``.``, ``:``,
spaces and the letters of exponents and times (``-9223372036854775808``, ``-12.5e3``,
``-0044-03-15``, ``-infinity``: the exact forms of big integers, decimals and dates): with
no letter to name a function and no ``(`` or ``|``, it can at most be arithmetic. The exact
text is in the JSON and Parquet formats.
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
_SIGNED_PLAIN = "^[+-](?:[0-9.:eETZ +-]*|infinity|inf)$"  # a signed number, date or time
_PLAIN = re.compile(_SIGNED_PLAIN, re.IGNORECASE)


def safe_cell(value: Any) -> Any:
    """``value``, with an apostrophe in front when it is text a spreadsheet would run."""
    if isinstance(value, str) and _RISKY.match(value) and not _PLAIN.match(value):
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
