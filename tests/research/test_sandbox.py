"""The sandbox end to end: granted Parquet through the store, refusals, limits, results."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
from passerelle.research.sandbox import _connect, _copies
from passerelle.storage import Store, open_store
from tests.research.conftest import STAYS, put_parquet

SCANS = pytest.mark.parametrize("scan", ["stream", "copy", "auto"])


@SCANS
def test_granted_tables_return_the_right_answer(
    granted: dict[str, TableSource], scan: Literal["stream", "copy", "auto"]
) -> None:
    sql = (
        "SELECT departement, count(*) AS n, sum(los_days) AS days FROM stays GROUP BY 1 ORDER BY 1"
    )
    outcome = run_sandboxed(sql, granted, QueryLimits(scan=scan))
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


@SCANS
def test_reads_go_through_the_store(
    granted: dict[str, TableSource], scan: Literal["stream", "copy", "auto"]
) -> None:
    calls: list[tuple[str, str | None]] = []

    from passerelle.storage import StoreWrapper

    class Spy(StoreWrapper):
        def before(self, op: str, key: str | None) -> None:
            calls.append((op, key))

    spied = {"stays": TableSource(Spy(granted["stays"].store), granted["stays"].prefix)}
    outcome = run_sandboxed("SELECT count(*) AS n FROM stays", spied, QueryLimits(scan=scan))
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
    con = _connect(granted, QueryLimits())
    try:
        assert con.execute("SELECT count(*) FROM stays").fetchall() == [(120,)]
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"SELECT * FROM read_csv('{tmp_path}/leak.csv')").fetchall()
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"SELECT * FROM '{tmp_path}/leak.csv'").fetchall()
        with pytest.raises(duckdb.Error):
            con.execute(f"COPY stays TO '{tmp_path}/out.csv'")
        with pytest.raises(duckdb.Error):
            con.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error):
            con.execute("SET threads = 64")
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


def test_run_time_limit_interrupts_the_query(granted: dict[str, TableSource]) -> None:
    bomb = "SELECT count(*) FROM range(1000000000) a, range(1000000) b"
    with pytest.raises(SandboxViolation) as caught:
        run_sandboxed(bomb, granted, QueryLimits(timeout_s=0.5))
    assert caught.value.reason == "time-limit"


def test_recursive_cte_bomb_is_stopped(granted: dict[str, TableSource]) -> None:
    bomb = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r"
    with pytest.raises(SandboxViolation) as caught:
        run_sandboxed(bomb, granted, QueryLimits(timeout_s=0.5, memory_limit="64MB"))
    assert caught.value.reason in ("time-limit", "memory-limit")


def test_memory_limit_is_enforced(granted: dict[str, TableSource]) -> None:
    with pytest.raises(SandboxViolation) as caught:
        run_sandboxed(
            "SELECT list(x) FROM range(50000000) t(x)",
            granted,
            QueryLimits(memory_limit="32MB", timeout_s=30),
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


def test_copy_scan_gives_the_same_answers_and_leaves_nothing_behind(
    granted: dict[str, TableSource], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    sql = "SELECT departement, count(*) AS n, count(DISTINCT person_id) AS p FROM stays GROUP BY 1 ORDER BY 1"
    streamed = run_sandboxed(sql, granted, QueryLimits(scan="stream"))
    copied = run_sandboxed(sql, granted, QueryLimits(scan="copy"))
    assert streamed.result is not None and copied.result is not None
    assert copied.result.equals(streamed.result)
    assert copied.tables == ("stays",)
    with pytest.raises(SandboxViolation):
        run_sandboxed("SELECT * FROM secret", granted, QueryLimits(scan="copy"))
    assert list(tmp_path.iterdir()) == []  # the private copies are gone


def test_copy_scan_second_wall_allows_only_the_copies(
    granted: dict[str, TableSource], tmp_path: Path
) -> None:
    (tmp_path / "leak.csv").write_text("a\n1\n")
    workdir = tmp_path / "work"
    workdir.mkdir()
    con = _connect(granted, QueryLimits(scan="copy"), workdir)
    try:
        assert con.execute("SELECT count(*) FROM stays").fetchall() == [(120,)]
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"SELECT * FROM read_csv('{tmp_path}/leak.csv')").fetchall()
        copy = next(workdir.rglob("*.parquet"))
        with pytest.raises(duckdb.Error):
            con.execute(f"COPY (SELECT 1 AS a) TO '{copy}'")
        with pytest.raises(duckdb.Error):
            con.execute("SET allowed_paths = ['/etc/passwd']")
    finally:
        con.close()


def test_copy_scan_keeps_column_subset_grants_streamed(hub_store: Store, tmp_path: Path) -> None:
    tables = {"stays": TableSource(hub_store, "datasets/stays/v1", columns=("departement",))}
    workdir = tmp_path / "work"
    workdir.mkdir()
    con = _connect(tables, QueryLimits(scan="copy"), workdir)
    try:
        assert [r[0] for r in con.execute("DESCRIBE stays").fetchall()] == ["departement"]
    finally:
        con.close()
    assert list(workdir.iterdir()) == []  # nothing of the hidden columns was copied


def test_a_failing_store_surfaces_its_own_error(granted: dict[str, TableSource]) -> None:
    from passerelle.errors import TransientError
    from passerelle.storage import FaultInjectingStore, FaultPlan

    flaky = FaultInjectingStore(
        granted["stays"].store, FaultPlan(seed=1, transient=1.0, operations=frozenset({"get"}))
    )
    tables = {"stays": TableSource(flaky, granted["stays"].prefix)}
    for limits in (QueryLimits(), QueryLimits(scan="copy")):
        with pytest.raises(TransientError) as caught:
            run_sandboxed("SELECT count(*) FROM stays", tables, limits)
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


def test_auto_scan_copies_small_whole_datasets_only(hub_store: Store) -> None:
    whole = TableSource(hub_store, "datasets/stays/v1")
    subset = TableSource(hub_store, "datasets/stays/v1", columns=("departement",))
    files = {"a.parquet": 600, "b.parquet": 500}
    assert _copies(whole, files, QueryLimits(copy_max_bytes=1100))
    assert not _copies(whole, files, QueryLimits(copy_max_bytes=1099))
    assert _copies(whole, files, QueryLimits(scan="copy", copy_max_bytes=1))
    assert not _copies(whole, files, QueryLimits(scan="stream"))
    assert not _copies(subset, files, QueryLimits(scan="copy"))
