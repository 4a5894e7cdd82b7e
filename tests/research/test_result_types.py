"""Every DuckDB result type x every container x every output format, generated (pure).

DuckDB exports to Arrow as the sandbox's child does (with
``arrow_lossless_conversion``); the hub makes the table storable, writes it as
Parquet, reads it back, and renders it as JSON cells, CSV and terminal text.
Each cell must be the exact value; nested columns in CSV are refused in one
sentence. Without lossless conversion, every type not marked ``lossless`` must
still come out exact.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from passerelle.errors import UsageError
from passerelle.research.rendering import MAX_SAFE_INTEGER, csv_text, json_cells, text_cell
from passerelle.research.results import interval_text, result_parquet, storable_table
from tests.research.result_types import SCALARS, WRAPPERS, Scalar, Wrapper, csv_cell

CASES = [(s, w) for s in SCALARS for w in WRAPPERS if not (s.sql == "NULL" and w.nested)]


def export(sql: str, lossless: bool) -> Any:
    con = duckdb.connect(":memory:")
    try:
        if lossless:
            con.execute("SET arrow_lossless_conversion = true")
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


# A lossless-only scalar is exact only with arrow_lossless_conversion (see result_types.py),
# which the sandbox sets; the default export is tested for every other scalar.
_MODES = [
    (s, w, lossless) for s, w in CASES for lossless in (True, False) if lossless or not s.lossless
]


@pytest.mark.parametrize(
    ("scalar", "wrapper", "lossless"),
    _MODES,
    ids=[f"{s.name}-{w.name}-{'lossless' if m else 'default'}" for s, w, m in _MODES],
)
def test_every_type_in_every_format(scalar: Scalar, wrapper: Wrapper, lossless: bool) -> None:
    expression = wrapper.template.format(scalar.sql)
    exported = export(f"SELECT {expression} AS v, 1 AS n FROM range(3)", lossless)
    stored = storable_table(exported)
    expected = wrapper.json(scalar.json)

    back = pq.read_table(io.BytesIO(result_parquet(stored)))  # Parquet keeps it exactly
    assert back.equals(stored) or back.schema.equals(stored.schema, check_metadata=False)
    for table in (stored, back):
        cells = json_cells(table.column("v"))
        assert json.dumps(cells, allow_nan=False) == json.dumps([expected] * 3), cells[0]
        assert all(isinstance(text_cell(c), str) for c in cells)

    if wrapper.nested:
        with pytest.raises(UsageError, match="format=json") as refused:
            csv_text(back)
        assert "\n" not in str(refused.value)
    else:
        rows = list(csv.reader(io.StringIO(csv_text(back))))
        assert rows[0] == ["v", "n"]
        assert [r[0] for r in rows[1:]] == [csv_cell(scalar.json)] * 3


def test_the_matrix_covers_every_kind_the_issue_names() -> None:
    names = " ".join(s.name for s in SCALARS)
    for kind in (
        "boolean",
        "tinyint",
        "utinyint",
        "smallint",
        "usmallint",
        "integer",
        "uinteger",
        "bigint",
        "ubigint",
        "hugeint",
        "uhugeint",
        "varint",
        "decimal_4",
        "decimal_9",
        "decimal_18",
        "decimal_38",
        "float",
        "double_nan",
        "float_inf",
        "date_infinity",
        "time",
        "timetz",
        "timestamp_s",
        "timestamp_ms",
        "timestamp_ns",
        "timestamptz",
        "timestamp_infinity",
        "interval",
        "uuid",
        "blob",
        "bit",
        "enum",
        "varchar_unicode_nul",
        "json",
        "null",
    ):
        assert kind in names, kind
    assert {w.name for w in WRAPPERS} >= {"list", "array", "struct", "map", "union"}


EPOCH = datetime(1970, 1, 1)
PY_DAYS = (date(1, 1, 1) - EPOCH.date()).days, (date(9999, 12, 31) - EPOCH.date()).days


@given(st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), max_size=30))
def test_random_integers_are_exact_and_safe_for_javascript(values: list[int | None]) -> None:
    cells = json_cells(pa.array(values, pa.int64()))
    for value, cell in zip(values, cells, strict=True):
        if value is None or abs(value) <= MAX_SAFE_INTEGER:
            assert cell == value and type(cell) is type(value)
        else:
            assert cell == str(value)


@given(
    st.lists(
        st.none()
        | st.decimals(
            min_value=Decimal("-1e27"),
            max_value=Decimal("1e27"),
            places=10,
            allow_nan=False,
            allow_infinity=False,
        ),
        max_size=20,
    )
)
def test_random_decimals_are_exact_text(values: list[Decimal | None]) -> None:
    cells = json_cells(pa.array(values, pa.decimal128(38, 10)))
    for value, cell in zip(values, cells, strict=True):
        assert cell is None if value is None else Decimal(cell) == value
        assert cell is None or "E" not in cell


@given(st.lists(st.integers(*PY_DAYS), max_size=20))
def test_random_dates_match_the_calendar(days: list[int]) -> None:
    cells = json_cells(pa.array(days, pa.int32()).cast(pa.date32()))
    assert cells == [(EPOCH.date() + timedelta(days=d)).isoformat() for d in days]


@given(st.lists(st.integers(PY_DAYS[0] * 86_400_000_000, PY_DAYS[1] * 86_400_000_000), max_size=20))
def test_random_timestamps_match_the_calendar(micros: list[int]) -> None:
    cells = json_cells(pa.array(micros, pa.int64()).cast(pa.timestamp("us")))
    expected = [
        (EPOCH + timedelta(microseconds=m)).isoformat(timespec="microseconds") for m in micros
    ]
    assert cells == expected


@given(st.lists(st.integers(-(10**15), 10**15), min_size=3, max_size=3))
def test_random_intervals_are_exact_iso_durations(parts: list[int]) -> None:
    months, days, nanos = parts[0] % 10**6, parts[1] % 10**6, parts[2]
    text = interval_text(months, days, nanos)
    assert text.startswith("P") and text != "P"
    seconds = Decimal(0)
    for number, unit in re.findall(r"(-?[\d.]+)([HMS])", text.partition("T")[2]):
        seconds += Decimal(number) * {"H": 3600, "M": 60, "S": 1}[unit]
    assert seconds * 1_000_000_000 == nanos


def test_128_bit_sums_stay_numeric_when_they_fit() -> None:
    """A ``sum()`` is a HUGEINT: numeric for the disclosure check, text only past 38 digits."""
    stored = storable_table(export("SELECT sum(x) AS total FROM range(10) t(x)", lossless=True))
    assert pa.types.is_decimal(stored.schema.field("total").type)
    assert json_cells(stored.column("total")) == ["45"]

    kind = pa.opaque(pa.binary(16), "hugeint", "DuckDB")
    small, huge = 5, 10**38  # the second needs 39 digits

    def chunk(value: int) -> pa.Array:
        raw = pa.array([value.to_bytes(16, "little", signed=True)], pa.binary(16))
        return pa.ExtensionArray.from_storage(kind, raw)

    table = pa.table({"v": pa.chunked_array([chunk(small), chunk(huge)])})
    stored = storable_table(table)
    assert stored.schema.field("v").type == pa.string()
    assert json_cells(stored.column("v")) == ["5", str(huge)]
