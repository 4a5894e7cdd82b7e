"""Render query results (Arrow tables) as JSON-safe rows, CSV or Parquet bytes.

The rendering itself is :mod:`passerelle.research.rendering` (shared with the
CLI): every value exact, big integers and decimals as strings, NaN and the
infinities as ``"NaN"`` / ``"Infinity"``, dates and times as ISO 8601 text.
Rows are arrays in column order, so a result with two columns of the same
name loses nothing.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from passerelle.api.models import ColumnOut

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

__all__ = ["csv_bytes", "json_rows", "json_value", "parquet_bytes"]


def json_value(value: Any) -> Any:
    """A Python value (e.g. from ``to_pylist``) as something ``json.dumps`` writes exactly."""
    from passerelle.research.rendering import MAX_SAFE_INTEGER

    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return value if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        from passerelle.research.results import interval_text

        micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        return interval_text(0, 0, micros * 1000)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)


def json_rows(table: pa.Table, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
    """``{"columns", "rows"}`` for rows ``offset`` to ``offset + limit`` of ``table``."""
    from passerelle.research.rendering import json_cells

    part = table.slice(offset, limit) if limit is not None else table.slice(offset)
    columns = [ColumnOut(name=f.name, type=str(f.type)) for f in table.schema]
    values = [json_cells(part.column(i)) for i in range(part.num_columns)]
    rows = [list(row) for row in zip(*values, strict=True)] if values else []
    if not values:
        rows = [[] for _ in range(part.num_rows)]
    return {"columns": columns, "rows": rows}


def csv_bytes(table: pa.Table) -> bytes:
    """``table`` as UTF-8 CSV with a header row; nested columns are refused with one sentence."""
    from passerelle.research.rendering import csv_text

    return csv_text(table).encode()


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as one Parquet file (zstd), every type kept exactly."""
    from passerelle.research.results import result_parquet, storable_table

    return result_parquet(storable_table(table))
