"""Render query results (Arrow tables) as JSON-safe rows, CSV or Parquet bytes.

JSON has no dates, decimals, NaN or bytes: dates and times become ISO strings,
decimals strings (exact), durations seconds, NaN and infinities ``null``, bytes
hex, and anything else its text. Rows are arrays in column order, so a result
with two columns of the same name loses nothing.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from passerelle.api.models import ColumnOut
from passerelle.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

__all__ = ["csv_bytes", "json_rows", "json_value", "parquet_bytes"]


def json_value(value: Any) -> Any:
    """``value`` (from ``pyarrow``'s ``to_pylist``) as something ``json.dumps`` writes."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)


def _column_values(column: Any) -> list[Any]:
    import pyarrow as pa

    try:
        values: list[Any] = column.to_pylist()
    except (ValueError, OverflowError, pa.ArrowException):  # e.g. a year past 9999
        try:
            values = column.cast(pa.string()).to_pylist()
        except (ValueError, OverflowError, pa.ArrowException):
            raise UsageError(
                "a result column cannot be shown as JSON; ask for format=parquet"
            ) from None
    return [json_value(v) for v in values]


def json_rows(table: pa.Table, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
    """``{"columns", "rows"}`` for rows ``offset`` to ``offset + limit`` of ``table``."""
    part = table.slice(offset, limit) if limit is not None else table.slice(offset)
    columns = [ColumnOut(name=f.name, type=str(f.type)) for f in table.schema]
    values = [_column_values(part.column(i)) for i in range(part.num_columns)]
    rows = [list(row) for row in zip(*values, strict=True)] if values else []
    if not values:
        rows = [[] for _ in range(part.num_rows)]
    return {"columns": columns, "rows": rows}


def csv_bytes(table: pa.Table) -> bytes:
    """``table`` as CSV with a header row; nested columns are refused with one sentence."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv  # type: ignore[import-untyped]

    buffer = io.BytesIO()
    try:
        pacsv.write_csv(table, buffer)
    except pa.ArrowException:
        raise UsageError(
            "this result has columns CSV cannot hold (lists, structs, maps); "
            "ask for format=json or format=parquet"
        ) from None
    return buffer.getvalue()


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as one Parquet file (zstd)."""
    import io

    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()
