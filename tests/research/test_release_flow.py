"""The issue's walk-through as a library call chain: count, look, release, read back."""

from __future__ import annotations

import json
import uuid

import pyarrow as pa
import pyarrow.parquet as pq

from passerelle.research import TableSource, run_sandboxed, write_result
from passerelle.research.disclosure import check_release, frequency_query, magnitude_query
from passerelle.storage import open_store
from tests.research.conftest import put_parquet


def stays_table(n: int = 2000) -> pa.Table:
    """Big cells for 75/13/69, and Corsica (2A) with 4, 12 and 3 stays by age group."""
    big = ["75", "13", "69"]
    ages = ["0-17", "18-64", "65+"]
    corsica = [("0-17", 4), ("18-64", 12), ("65+", 3)]
    departement = [big[(i * 13) % 3] for i in range(n)]
    age_group = [ages[(i // 3) % 3] for i in range(n)]
    for age, count in corsica:
        departement += ["2A"] * count
        age_group += [age] * count
    total = len(departement)
    return pa.table(
        {
            "person_pseudonym": [f"h{i % 1500:04x}" for i in range(total)],
            "departement": departement,
            "age_group": age_group,
            "los_days": [(i * 11) % 15 for i in range(total)],
        }
    )


def test_count_look_release_and_read_back() -> None:
    store = open_store(f"memory://flow-{uuid.uuid4().hex[:12]}/hub")
    put_parquet(store, "datasets/stays/v1/part-0.parquet", stays_table())
    tables = {"stays": TableSource(store, "datasets/stays/v1")}

    full = run_sandboxed(
        "SELECT departement, age_group, count(*) AS n_stays FROM stays GROUP BY ALL", tables
    )
    assert full.result is not None and full.rows == 12
    assert min(full.result.column("n_stays").to_pylist()) < 10  # the small cells are there

    sql, spec = frequency_query("stays", ["departement", "age_group"], "person_pseudonym")
    check = check_release(run_sandboxed(sql, tables).result, spec)
    assert check.status == "review"
    assert check.table is not None
    report = json.loads(json.dumps(check.report()))
    assert {f["rule"] for f in report["findings"]} >= {"threshold", "secondary"}
    assert all(f["cell"]["departement"] for f in report["findings"] if f["cell"])

    put = write_result(check.table, store, "projects/p1/releases", "stays-by-dept-age")
    released = pq.read_table(pa.BufferReader(store.get(put.key).read()))
    for row in released.to_pylist():
        if row["suppressed"]:
            assert row["n_records"] is None and row["n_persons"] is None
        else:
            assert row["n_records"] >= 10 and row["n_persons"] >= 10
    assert "person_pseudonym" not in released.column_names
    assert any(r["suppressed"] for r in released.to_pylist())
    assert any(not r["suppressed"] for r in released.to_pylist())


def test_magnitude_release_never_ships_the_evidence() -> None:
    store = open_store(f"memory://flow-{uuid.uuid4().hex[:12]}/hub")
    put_parquet(store, "datasets/stays/v1/part-0.parquet", stays_table())
    tables = {"stays": TableSource(store, "datasets/stays/v1")}
    sql, spec = magnitude_query("stays", ["departement"], "los_days", "person_pseudonym")
    check = check_release(run_sandboxed(sql, tables).result, spec)
    assert check.table is not None
    assert check.table.column_names == ["departement", "los_days_mean", "n_persons", "suppressed"]


def test_a_row_level_query_is_not_releasable() -> None:
    store = open_store(f"memory://flow-{uuid.uuid4().hex[:12]}/hub")
    put_parquet(store, "datasets/stays/v1/part-0.parquet", stays_table())
    tables = {"stays": TableSource(store, "datasets/stays/v1")}
    rows = run_sandboxed("SELECT person_pseudonym, los_days AS n_persons FROM stays", tables)
    _, spec = frequency_query("stays", ["departement"], "person_pseudonym")
    check = check_release(rows.result, spec)
    assert check.status == "fail" and check.table is None
