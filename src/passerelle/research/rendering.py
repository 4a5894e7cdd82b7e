"""Query results (Arrow) as JSON cells, CSV and text, with no value changed on the way.

Pure: Arrow arrays in, Python values out. JSON has no dates, decimals, NaN,
bytes or 64-bit integers, so each becomes exact text where a number would
not be exact:

- integers beyond JSON's safe range (``|n| > 2**53 - 1``) and every decimal: a
  decimal string (``"340282366920938463463374607431768211455"``, ``"1.50"``);
- ``NaN`` and the infinities: ``"NaN"``, ``"Infinity"``, ``"-Infinity"``;
- dates, times and timestamps: ISO 8601 at the column's precision
  (``2026-01-02T03:04:05.123456789``; ``Z`` when the column has a time zone;
  years past 9999 or before 1 as ``+294247-01-10`` / ``-0044-03-15``), and
  DuckDB's ``infinity`` / ``-infinity``; durations as ISO 8601 (``PT1.5S``);
- bytes: lowercase hex; maps: ``[key, value]`` pairs; lists, arrays and structs:
  JSON arrays and objects, rendered the same way all the way down.

The hub stores results through :func:`passerelle.research.results.storable_table`
first, so intervals, unions and DuckDB's own types arrive here as exact text.
"""

from __future__ import annotations

import csv
import io
import json
import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from passerelle.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

__all__ = ["MAX_SAFE_INTEGER", "civil_date", "csv_text", "json_cells", "text_cell"]

MAX_SAFE_INTEGER = 2**53 - 1
_INFINITY_DAYS = 2**31 - 1  # DuckDB's 'infinity'::DATE in Arrow's date32
_INFINITY_TICKS = 2**63 - 1  # DuckDB's 'infinity'::TIMESTAMP in Arrow's int64 timestamps
_TICKS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_SECONDS_PER_DAY = 86_400


def civil_date(days: int) -> str:
    """Days since 1970-01-01 as an ISO 8601 date, any year (proleptic Gregorian)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    if 0 <= year <= 9999:
        return f"{year:04d}-{month:02d}-{day:02d}"
    return f"{'+' if year > 0 else '-'}{abs(year):04d}-{month:02d}-{day:02d}"


def _clock(seconds: int, fraction: int, digits: int) -> str:
    text = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return text + (f".{fraction:0{digits}d}" if digits else "")


def _number(value: int | float | Decimal) -> int | float | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return value if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")
    return format(value, "f")


def _ticks(array: Any) -> list[int | None]:
    import pyarrow as pa

    width = pa.int32() if array.type.bit_width == 32 else pa.int64()
    values: list[int | None] = array.view(width).to_pylist()
    return values


def _dates(array: Any) -> list[str | None]:
    import pyarrow as pa

    if array.type == pa.date64():  # milliseconds
        return [None if v is None else civil_date(v // 86_400_000) for v in _ticks(array)]
    out: list[str | None] = []
    for v in _ticks(array):
        if v is None:
            out.append(None)
        elif abs(v) == _INFINITY_DAYS:
            out.append("infinity" if v > 0 else "-infinity")
        else:
            out.append(civil_date(v))
    return out


def _timestamps(array: Any) -> list[str | None]:
    unit = array.type.unit
    per_second = _TICKS_PER_SECOND[unit]
    digits = len(str(per_second)) - 1
    zone = "Z" if array.type.tz else ""
    out: list[str | None] = []
    for v in _ticks(array):
        if v is None:
            out.append(None)
        elif abs(v) == _INFINITY_TICKS:
            out.append("infinity" if v > 0 else "-infinity")
        else:
            seconds, fraction = divmod(v, per_second)
            days, second = divmod(seconds, _SECONDS_PER_DAY)
            out.append(f"{civil_date(days)}T{_clock(second, fraction, digits)}{zone}")
    return out


def _times(array: Any) -> list[str | None]:
    per_second = _TICKS_PER_SECOND[array.type.unit]
    digits = len(str(per_second)) - 1
    return [None if v is None else _clock(*divmod(v, per_second), digits) for v in _ticks(array)]


def _durations(array: Any) -> list[str | None]:
    from passerelle.research.results import interval_text

    per_ns = 1_000_000_000 // _TICKS_PER_SECOND[array.type.unit]
    return [None if v is None else interval_text(0, 0, v * per_ns) for v in _ticks(array)]


def _lists(array: Any, offsets: list[int] | None, values: Any) -> list[Any]:
    """Lists from their values' cells: by ``offsets``, or every ``list_size`` (fixed)."""
    cells = json_cells(values)
    valid = array.is_valid().to_pylist()
    if offsets is None:
        size = array.type.list_size
        offsets = [i * size for i in range(len(array) + 1)]
    return [cells[offsets[i] : offsets[i + 1]] if ok else None for i, ok in enumerate(valid)]


def json_cells(array: Any) -> list[Any]:
    """One Arrow array (or chunked array) as a list of JSON-safe values, exactly."""
    import pyarrow as pa
    import pyarrow.types as pat  # type: ignore[import-untyped]

    if isinstance(array, pa.ChunkedArray):
        return [cell for chunk in array.chunks for cell in json_cells(chunk)]
    kind = array.type
    if isinstance(kind, pa.BaseExtensionType):
        return json_cells(array.storage)
    if pat.is_null(kind):
        return [None] * len(array)
    if pat.is_dictionary(kind):
        return json_cells(array.dictionary_decode())
    if pat.is_boolean(kind) or pat.is_string(kind) or pat.is_large_string(kind):
        return list(array.to_pylist())
    if pat.is_string_view(kind):
        return list(array.cast(pa.string()).to_pylist())
    if pat.is_integer(kind) or pat.is_floating(kind) or pat.is_decimal(kind):
        return [None if v is None else _number(v) for v in array.to_pylist()]
    if pat.is_date(kind):
        return _dates(array)
    if pat.is_timestamp(kind):
        return _timestamps(array)
    if pat.is_time(kind):
        return _times(array)
    if pat.is_duration(kind):
        return _durations(array)
    if pat.is_binary(kind) or pat.is_large_binary(kind) or pat.is_fixed_size_binary(kind):
        return [None if v is None else bytes(v).hex() for v in array.to_pylist()]
    if pat.is_binary_view(kind):
        return json_cells(array.cast(pa.binary()))
    if pat.is_map(kind):
        keys, items = json_cells(array.keys), json_cells(array.items)
        pairs = [[k, v] for k, v in zip(keys, items, strict=True)]
        offsets = array.offsets.to_pylist()
        valid = array.is_valid().to_pylist()
        return [pairs[offsets[i] : offsets[i + 1]] if ok else None for i, ok in enumerate(valid)]
    if pat.is_list(kind) or pat.is_large_list(kind):
        return _lists(array, array.offsets.to_pylist(), array.values)
    if pat.is_fixed_size_list(kind):
        size = kind.list_size
        return _lists(array, None, array.values.slice(array.offset * size, len(array) * size))
    if pat.is_list_view(kind) or pat.is_large_list_view(kind):
        return json_cells(array.cast(pa.list_(kind.value_type)))
    if pat.is_struct(kind):
        names = [kind.field(i).name for i in range(kind.num_fields)]
        columns = [json_cells(array.field(i)) for i in range(kind.num_fields)]
        valid = array.is_valid().to_pylist()
        rows = list(zip(*columns, strict=True)) if columns else [()] * len(array)
        return [
            dict(zip(names, row, strict=True)) if ok else None
            for ok, row in zip(valid, rows, strict=True)
        ]
    if pat.is_interval(kind) or pat.is_union(kind):
        from passerelle.research.results import storable_table

        column = storable_table(pa.table({"c": array})).column(0)
        return json_cells(column)
    raise UsageError(f"a result column of type {kind} cannot be shown; ask for format=parquet")


def text_cell(value: Any) -> str:
    """A JSON cell as text for a terminal table: ``-`` for null, strings as they are."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def csv_text(table: pa.Table) -> str:
    """``table`` as CSV with a header row (values as in JSON); nested columns are refused,
    and text a spreadsheet would run as a formula is written as text (``safe_cell``)."""
    import pyarrow.types as pat

    from passerelle.spreadsheet_cells import safe_cell

    for field in table.schema:
        kind = field.type
        if pat.is_dictionary(kind):
            kind = kind.value_type
        if pat.is_nested(kind):
            raise UsageError(
                f"column {field.name!r} holds lists, structs or maps, which CSV cannot hold; "
                "ask for format=json or format=parquet"
            )
    columns = [json_cells(column) for column in table.columns]
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    writer.writerow([safe_cell(name) for name in table.column_names])
    for row in zip(*columns, strict=True) if columns else ():
        writer.writerow([safe_cell(_csv_value(v)) for v in row])
    return out.getvalue()
