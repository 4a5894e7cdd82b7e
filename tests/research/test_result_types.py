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
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from passerelle.errors import UsageError
from passerelle.research.rendering import csv_text, json_cells, text_cell
from passerelle.research.results import result_parquet, storable_table
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


@pytest.mark.parametrize("lossless", [True, False], ids=["lossless", "default"])
@pytest.mark.parametrize(("scalar", "wrapper"), CASES, ids=[f"{s.name}-{w.name}" for s, w in CASES])
def test_every_type_in_every_format(scalar: Scalar, wrapper: Wrapper, lossless: bool) -> None:
    if scalar.lossless and not lossless:
        pytest.skip("exact only with arrow_lossless_conversion (see result_types.py)")
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
