"""Query results rendered for HTTP: JSON-safe values, pages, CSV refusals (pure)."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from passerelle.api.tables import csv_bytes, json_rows, json_value
from passerelle.errors import UsageError

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(),
    st.binary(),
    st.decimals(),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.timedeltas(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner) | st.tuples(inner, inner),
    max_leaves=20,
)


@given(values)
def test_every_value_becomes_strict_json(value: object) -> None:
    json.dumps(json_value(value), allow_nan=False)


def test_known_values() -> None:
    assert json_value(Decimal("1.50")) == "1.50"
    assert json_value(Decimal("1E-7")) == "0.0000001"  # never exponent notation
    assert json_value(Decimal("NaN")) == "NaN"
    assert json_value(float("inf")) == "Infinity" and json_value(float("nan")) == "NaN"
    assert json_value(2**53 - 1) == 2**53 - 1 and json_value(2**64) == str(2**64)
    assert json_value(date(2026, 11, 29)) == "2026-11-29"
    assert json_value(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05"
    assert json_value(time(1, 2)) == "01:02:00"
    assert json_value(timedelta(minutes=2, microseconds=5)) == "PT2M0.000005S"
    assert json_value(b"\x00\xff") == "00ff"
    assert json_value([("k", 1)]) == [["k", 1]]  # a map column's pairs


def test_pages_keep_column_order_and_duplicate_names() -> None:
    table = pa.table([pa.array([1, 2, 3]), pa.array(["a", "b", "c"])], names=["x", "x"])
    page = json_rows(table, 1, 5)
    assert [(c.name, c.type) for c in page["columns"]] == [("x", "int64"), ("x", "string")]
    assert page["rows"] == [[2, "b"], [3, "c"]]
    assert json_rows(table, 10, 5)["rows"] == []


def test_csv_refuses_nested_columns_in_one_sentence() -> None:
    assert csv_bytes(pa.table({"a": [1]})).decode().splitlines() == ['"a"', "1"]
    with pytest.raises(UsageError, match="format=json") as refused:
        csv_bytes(pa.table({"pair": [[1, 2]]}))
    assert "'pair'" in str(refused.value) and "\n" not in str(refused.value)
