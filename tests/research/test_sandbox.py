"""The sandbox end to end: granted Parquet through the store, refusals, limits, results."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from passerelle.errors import PasserelleError, QueryError, SandboxViolation, UsageError
from passerelle.research import (
    QueryLimits,
    QueryOutcome,
    TableSource,
    open_dataset,
    run_sandboxed,
    statement_digest,
    write_result,
)
from passerelle.research.child import connect
from passerelle.research.parquet_source import copy_to_folder
from passerelle.storage import Store, open_store
from tests.research.conftest import STAYS, put_parquet


def _local_connection(tables: dict[str, TableSource], folder: Path) -> object:
    """The child's locked DuckDB over local copies of ``tables`` (as the sandbox makes them)."""
    local = {}
    for index, (name, source) in enumerate(tables.items()):
        (folder / str(index)).mkdir(parents=True)
        local[name] = [str(p) for p in copy_to_folder(source, folder / str(index))]
    return connect(local, 2, 256 * 2**20)


@pytest.mark.parametrize("cached", [False, True])
def test_granted_tables_return_the_right_answer(
    granted: dict[str, TableSource], cached: bool, tmp_path: Path
) -> None:
    from passerelle.research import ScanCache

    sql = (
        "SELECT departement, count(*) AS n, sum(los_days) AS days FROM stays GROUP BY 1 ORDER BY 1"
    )
    cache = ScanCache(tmp_path / "cache") if cached else None
    outcome = run_sandboxed(sql, granted, QueryLimits(), cache)
    expected = {
        d: (
            sum(1 for x in STAYS.column("departement").to_pylist() if x == d),
            sum(
                los
                for x, los in zip(
                    STAYS.column("departement").to_pylist(),
                    STAYS.column("los_days").to_pylist(),
                    strict=True,
                )
                if x == d
            ),
        )
        for d in ("13", "69", "75")
    }
    assert outcome.result is not None
    assert {r["departement"]: (r["n"], r["days"]) for r in outcome.result.to_pylist()} == expected
    assert outcome.decision == "allowed"
    assert outcome.tables == ("stays",)
    assert outcome.rows == 3
    assert not outcome.truncated
    assert outcome.digest == statement_digest(sql)
    details = outcome.audit_details()
    assert details["datasets"] == ["stays"] and details["rows"] == 3
    assert details["statement_sha256"] == statement_digest(sql)


def test_reads_go_through_the_store(granted: dict[str, TableSource]) -> None:
    calls: list[tuple[str, str | None]] = []

    from passerelle.storage import StoreWrapper

    class Spy(StoreWrapper):
        def before(self, op: str, key: str | None) -> None:
            calls.append((op, key))

    spied = {"stays": TableSource(Spy(granted["stays"].store), granted["stays"].prefix)}
    outcome = run_sandboxed("SELECT count(*) AS n FROM stays", spied)
    assert outcome.result is not None and outcome.result.column("n").to_pylist() == [120]
    assert ("get", "datasets/stays/v1/part-0.parquet") in calls
    assert ("get", "datasets/stays/v1/part-1.parquet") in calls
    assert not any(key and "secret" in key for _, key in calls)


def test_a_folder_store_works_too(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    put_parquet(store, "ds/a.parquet", STAYS)
    outcome = run_sandboxed(
        "SELECT count(DISTINCT person_id) AS p FROM stays",
        {"stays": TableSource(store, "ds")},
    )
    assert outcome.result is not None and outcome.result.to_pylist() == [{"p": 40}]


def test_a_column_subset_grant_hides_the_other_columns(hub_store: Store) -> None:
    tables = {
        "stays": TableSource(hub_store, "datasets/stays/v1", columns=("departement", "los_days"))
    }
    outcome = run_sandboxed("SELECT * FROM stays LIMIT 1", tables)
    assert outcome.result is not None
    assert outcome.result.column_names == ["departement", "los_days"]
    with pytest.raises(QueryError) as caught:
        run_sandboxed("SELECT person_id FROM stays", tables)
    assert caught.value.reason == "invalid-query"
    with pytest.raises(UsageError, match="no column"):
        open_dataset(TableSource(hub_store, "datasets/stays/v1", columns=("nope",)))


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT * FROM secret", "not-granted"),
        (
            "SELECT * FROM read_parquet('memory://x/datasets/secret/v1/part-0.parquet')",
            "file-access",
        ),
        ("SELECT * FROM 'datasets/secret/v1/part-0.parquet'", "file-access"),
        ("SELECT * FROM stays; SELECT * FROM secret", "multiple-statements"),
        ("ATTACH ':memory:' AS x", "attach"),
        ("SET memory_limit = '100GB'", "setting"),
        ("SELECT getenv('HOME')", "function"),
    ],
)
def test_refusals_raise_one_sentence_with_an_auditable_outcome(
    granted: dict[str, TableSource], sql: str, reason: str
) -> None:
    with pytest.raises(SandboxViolation) as caught:
        run_sandboxed(sql, granted)
    error = caught.value
    assert isinstance(error, PasserelleError) and not error.retryable
    assert error.reason == reason
    assert str(error).count(".") >= 1 and "\n" not in str(error)
    outcome = error.details
    assert isinstance(outcome, QueryOutcome)
    assert outcome.decision == "refused" and outcome.reason == reason
    assert outcome.digest == statement_digest(sql)
    assert outcome.result is None and outcome.rows == 0


def test_another_projects_dataset_names_are_not_revealed(
    granted: dict[str, TableSource],
) -> None:
    with pytest.raises(SandboxViolation) as caught:
        run_sandboxed("SELECT * FROM secret", granted)
    with pytest.raises(SandboxViolation) as guessed:
        run_sandboxed("SELECT * FROM does_not_exist", granted)
    assert str(caught.value).replace("secret", "X") == str(guessed.value).replace(
        "does_not_exist", "X"
    )


def test_invalid_sql_is_a_query_error_not_a_violation(granted: dict[str, TableSource]) -> None:
    for sql in ("SELEC 1", "SELECT no_such_column FROM stays"):
        with pytest.raises(QueryError) as caught:
            run_sandboxed(sql, granted)
        assert isinstance(caught.value.details, QueryOutcome)
        assert caught.value.details.decision == "error"


def test_the_second_wall_duckdb_itself_refuses_files_and_settings(
    granted: dict[str, TableSource], tmp_path: Path
) -> None:
    (tmp_path / "leak.csv").write_text("a\n1\n")
    con: duckdb.DuckDBPyConnection = _local_connection(granted, tmp_path / "work")  # type: ignore[assignment]
    try:
        assert con.execute("SELECT count(*) FROM stays").fetchall() == [(120,)]
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"SELECT * FROM read_csv('{tmp_path}/leak.csv')").fetchall()
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"SELECT * FROM '{tmp_path}/leak.csv'").fetchall()
        copy = next((tmp_path / "work").rglob("*.parquet"))
        with pytest.raises(duckdb.Error):
            con.execute(f"COPY (SELECT 1 AS a) TO '{copy}'")
        with pytest.raises(duckdb.Error):
            con.execute(f"COPY stays TO '{tmp_path}/out.csv'")
        with pytest.raises(duckdb.Error):
            con.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error):
            con.execute("SET allowed_paths = ['/etc/passwd']")
        with pytest.raises(duckdb.Error):
            con.execute("SET threads = 64")
        with pytest.raises(duckdb.Error):
            con.execute("SET memory_limit = '100GB'")
        with pytest.raises(duckdb.Error):
            con.execute("INSTALL httpfs")
        with pytest.raises(duckdb.Error):
            con.execute("SELECT getenv('HOME')").fetchall()
        with pytest.raises(duckdb.Error):
            con.execute(f"ATTACH '{tmp_path}/x.duckdb'")
        local_variable_table = pa.table({"a": [1]})  # noqa: F841 - a Python replacement scan target
        with pytest.raises(duckdb.Error):
            con.execute("SELECT * FROM local_variable_table").fetchall()
    finally:
        con.close()
    assert not (tmp_path / "out.csv").exists()
    assert not (tmp_path / "x.duckdb").exists()


def test_run_time_limit_stops_the_query(granted: dict[str, TableSource]) -> None:
    bomb = "SELECT count(*) FROM range(1000000000) a, range(1000000) b"
    with pytest.raises(SandboxViolation) as caught:
        run_sandboxed(bomb, granted, QueryLimits(timeout_s=0.5))
    assert caught.value.reason == "time-limit"
    assert caught.value.details.kind == "resource"


def test_recursive_cte_bomb_is_stopped(granted: dict[str, TableSource]) -> None:
    bomb = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r"
    with pytest.raises(SandboxViolation) as caught:
        run_sandboxed(bomb, granted, QueryLimits(timeout_s=0.5, memory_mb=64))
    assert caught.value.reason in ("time-limit", "memory-limit")


def test_memory_limit_is_enforced(granted: dict[str, TableSource]) -> None:
    with pytest.raises(SandboxViolation) as caught:
        run_sandboxed(
            "SELECT list(x) FROM range(50000000) t(x)",
            granted,
            QueryLimits(memory_mb=32, timeout_s=30),
        )
    assert caught.value.reason == "memory-limit"


def test_row_limit_truncates_and_flags_by_default(granted: dict[str, TableSource]) -> None:
    outcome = run_sandboxed("SELECT * FROM stays", granted, QueryLimits(max_rows=50))
    assert outcome.truncated and outcome.rows == 50
    assert outcome.result is not None and outcome.result.num_rows == 50
    exact = run_sandboxed("SELECT * FROM stays", granted, QueryLimits(max_rows=120))
    assert not exact.truncated and exact.rows == 120


def test_row_limit_can_refuse(granted: dict[str, TableSource]) -> None:
    with pytest.raises(SandboxViolation) as caught:
        run_sandboxed(
            "SELECT * FROM stays, range(1000)",
            granted,
            QueryLimits(max_rows=10, row_limit_action="refuse"),
        )
    assert caught.value.reason == "row-limit"


def test_huge_sql_text_is_refused(granted: dict[str, TableSource]) -> None:
    with pytest.raises(SandboxViolation) as caught:
        run_sandboxed("SELECT 1" + " " * 200, granted, QueryLimits(max_sql_chars=100))
    assert caught.value.reason == "sql-size"


def test_limits_are_validated() -> None:
    with pytest.raises(UsageError):
        QueryLimits(max_rows=0)
    with pytest.raises(UsageError):
        QueryLimits(row_limit_action="explode")  # type: ignore[arg-type]


def test_results_are_written_inside_the_workspace_only(granted: dict[str, TableSource]) -> None:
    outcome = run_sandboxed("SELECT departement, count(*) AS n FROM stays GROUP BY 1", granted)
    assert outcome.result is not None
    store = granted["stays"].store
    put = write_result(outcome.result, store, "projects/a/workspace", "q-001")
    assert put.key == "projects/a/workspace/q-001.parquet"
    back = pq.read_table(pa.BufferReader(store.get(put.key).read()))
    assert back.sort_by("departement").equals(outcome.result.sort_by("departement"))
    for name in ("../../datasets/stays/v1/part-0", "a/b", "/etc/passwd", "", ".."):
        with pytest.raises(UsageError):
            write_result(outcome.result, store, "projects/a/workspace", name)
    for workspace in ("", "/", "projects/../datasets"):
        with pytest.raises(UsageError):
            write_result(outcome.result, store, workspace, "q")


def test_a_missing_dataset_location_is_one_clear_sentence(hub_store: Store) -> None:
    with pytest.raises(UsageError, match="No Parquet file"):
        run_sandboxed("SELECT * FROM gone", {"gone": TableSource(hub_store, "datasets/gone")})


def test_no_file_is_left_behind_and_the_cache_keeps_only_copies(
    granted: dict[str, TableSource], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from passerelle.research import ScanCache

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    sql = "SELECT departement, count(*) AS n, count(DISTINCT person_id) AS p FROM stays GROUP BY 1 ORDER BY 1"
    per_query = run_sandboxed(sql, granted)
    cache = ScanCache(tmp_path / "cache")
    cached = run_sandboxed(sql, granted, cache=cache)
    assert per_query.result is not None and cached.result is not None
    assert cached.result.equals(per_query.result)
    with pytest.raises(SandboxViolation):
        run_sandboxed("SELECT * FROM secret", granted)
    with pytest.raises(QueryError):
        run_sandboxed("SELECT CAST(person_id AS INTEGER) FROM stays", granted, cache=cache)
    with pytest.raises(SandboxViolation):
        run_sandboxed(
            "SELECT count(*) FROM range(1000000000) a, range(1000000) b",
            granted,
            QueryLimits(timeout_s=0.3),
        )
    assert list(temp.iterdir()) == []  # the children's folders and per-query copies are gone
    assert sorted(p.suffix for p in (tmp_path / "cache").iterdir()) == [".parquet", ".parquet"]


def test_a_column_subset_grant_is_copied_as_its_columns_only(
    hub_store: Store, tmp_path: Path
) -> None:
    from passerelle.research import ScanCache

    tables = {"stays": TableSource(hub_store, "datasets/stays/v1", columns=("departement",))}
    cache = ScanCache(tmp_path / "cache")
    outcome = run_sandboxed("SELECT count(*) AS n FROM stays", tables, cache=cache)
    assert outcome.result is not None and outcome.result.to_pylist() == [{"n": 120}]
    copies = sorted((tmp_path / "cache").glob("*.parquet"))
    assert len(copies) == 2
    for copy in copies:  # nothing of the hidden columns reached the local disk
        assert pq.read_schema(copy).names == ["departement"]
        assert b"P000" not in copy.read_bytes()
    whole = run_sandboxed(
        "SELECT * FROM stays LIMIT 1", {"stays": granted_whole(hub_store)}, cache=cache
    )
    assert whole.result is not None and "person_id" in whole.result.column_names
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 4  # whole copies are other files


def granted_whole(store: Store) -> TableSource:
    return TableSource(store, "datasets/stays/v1")


def test_a_failing_store_surfaces_its_own_error(granted: dict[str, TableSource]) -> None:
    from passerelle.errors import TransientError
    from passerelle.storage import FaultInjectingStore, FaultPlan

    flaky = FaultInjectingStore(
        granted["stays"].store, FaultPlan(seed=1, transient=1.0, operations=frozenset({"get"}))
    )
    tables = {"stays": TableSource(flaky, granted["stays"].prefix)}
    with pytest.raises(TransientError) as caught:
        run_sandboxed("SELECT count(*) FROM stays", tables)
    assert caught.value.retryable


def test_the_store_filesystem_reads_ranges_and_refuses_writes(hub_store: Store) -> None:
    from passerelle.research import store_filesystem

    fs = store_filesystem(hub_store)
    key = "datasets/stays/v1/part-0.parquet"
    whole = hub_store.get(key).read()
    with fs.open_input_file(key) as handle:
        assert handle.size() == len(whole)
        handle.seek(4)
        assert handle.read(8) == whole[4:12]
        assert handle.read_at(4, len(whole) - 4) == whole[-4:]
    assert pq.read_table(key, filesystem=fs).num_rows == 60
    with pytest.raises(PermissionError):
        fs.open_output_stream("datasets/stays/v1/evil.parquet")
    with pytest.raises(PermissionError):
        fs.delete_file(key)
