"""Results follow access: who reads a stored result, for how long, and atomic records.

Every role x project status x membership through the library (SQLite and
PostgreSQL); retention and purge; a record and its result file written together
or not at all, with real failures injected between the two steps.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from passerelle import hub as H
from passerelle.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    TransientError,
    UsageError,
    not_found,
)
from passerelle.hub.audit import AuditFilter, list_events
from passerelle.hub.rules import Principal
from passerelle.hub.tables import QueryRecord
from passerelle.storage import FaultInjectingStore, FaultPlan
from passerelle.workspace import get_query, list_queries, purge_results, read_result, run_query
from tests.hub.conftest import Cast, approved_project

SQL = "SELECT 42 AS answer, INTERVAL '1 month 2 days' AS span"


@pytest.fixture
def project(cast: Cast) -> int:
    pid = approved_project(cast)  # alice submits it and is its member
    H.add_member(cast.hub, cast.alice, pid, "bob")
    H.remove_member(cast.hub, cast.alice, pid, "bob")  # bob was a member once: no longer
    return pid


def result_keys(c: Cast, pid: int) -> list[str]:
    return [o.key for o in c.hub.store().list(f"workspaces/project-{pid}/queries/")]


def events(c: Cast, action: str) -> list[dict[str, Any]]:
    found = list_events(c.hub, c.auditor, AuditFilter(), limit=10_000)
    return [e for e in found if e["action"] == action]


def hidden_like_missing(c: Cast, who: Principal, qid: int) -> None:
    """``who`` is told exactly what a query that does not exist would tell them."""
    with pytest.raises(NotFoundError) as hidden:
        read_result(c.hub, who, qid)
    with pytest.raises(NotFoundError) as missing:
        read_result(c.hub, who, 999_999)
    assert str(hidden.value) == str(not_found("query", qid))
    assert str(missing.value) == str(not_found("query", 999_999))
    assert str(hidden.value).replace(str(qid), "N") == str(missing.value).replace("999999", "N")


def test_only_members_of_an_active_project_read_its_results(cast: Cast, project: int) -> None:
    view, table = run_query(cast.hub, cast.alice, project, SQL)
    assert read_result(cast.hub, cast.alice, view.id).equals(table)
    outsiders = [cast.bob, cast.admin, cast.steward, cast.checker, cast.auditor, cast.operator]
    for who in outsiders:
        hidden_like_missing(cast, who, view.id)
    for verb, readable in [("suspend", False), ("reinstate", True), ("close", False)]:
        H.change_status(cast.hub, cast.steward, project, verb)
        if readable:
            assert read_result(cast.hub, cast.alice, view.id).equals(table)
        else:
            with pytest.raises(PermissionDeniedError, match=f"project {project} is"):
                read_result(cast.hub, cast.alice, view.id)
        for who in outsiders:  # never more than before, whatever the state
            hidden_like_missing(cast, who, view.id)
    denied = [e for e in events(cast, "query.read-result") if e["decision"] == "denied"]
    assert {e["actor"] for e in denied} >= {"bob", "admin", "steward", "checker", "alice"}


def test_an_ended_project_reads_no_results(cast: Cast) -> None:
    pid = approved_project(cast, end=date(2026, 6, 30))
    view, _ = run_query(cast.hub, cast.alice, pid, SQL)
    cast.clock.set_day(date(2026, 7, 1))
    with pytest.raises(PermissionDeniedError, match="has ended"):
        read_result(cast.hub, cast.alice, view.id)


def test_records_stay_visible_but_results_do_not(cast: Cast, project: int) -> None:
    """An output checker may see which query ran (the SQL, digest); never its rows."""
    view, _ = run_query(cast.hub, cast.alice, project, SQL)
    assert get_query(cast.hub, cast.checker, view.id).digest == view.digest
    hidden_like_missing(cast, cast.checker, view.id)


def test_expired_results_are_unreadable_then_purged_with_the_trail_kept(
    cast: Cast, project: int
) -> None:
    cast.hub.config = dataclasses.replace(cast.hub.config, result_retention_days=10)
    old, _ = run_query(cast.hub, cast.alice, project, SQL)
    assert old.kept_until == "2026-06-11" and old.result_sha256 and not old.purged
    cast.clock.set_day(date(2026, 6, 11))
    new, new_table = run_query(cast.hub, cast.alice, project, "SELECT 1 AS one")
    read_result(cast.hub, cast.alice, old.id)  # its last day
    cast.clock.set_day(date(2026, 6, 12))
    with pytest.raises(PermissionDeniedError, match="expired on 2026-06-11"):
        read_result(cast.hub, cast.alice, old.id)  # before any purge
    with pytest.raises(PermissionDeniedError, match="admin"):
        purge_results(cast.hub, cast.alice)
    report = purge_results(cast.hub, cast.admin)
    assert report.purged == [old.id] and report.retention_days == 10
    assert result_keys(cast, project) == [new.result_key]
    assert read_result(cast.hub, cast.alice, new.id).equals(new_table)
    listed = {q.id: q for q in list_queries(cast.hub, cast.alice, project)}
    assert listed[old.id].purged and listed[old.id].digest == old.digest  # the trail stays
    assert listed[old.id].sql == SQL and listed[old.id].user == "alice"
    (purge,) = events(cast, "query.result-purge")
    assert purge["actor"] == "admin" and purge["details"]["query"] == old.id
    assert purge["details"]["statement_sha256"] == old.digest
    assert purge["details"]["result_sha256"] == old.result_sha256
    with pytest.raises(PermissionDeniedError, match="expired"):
        read_result(cast.hub, cast.alice, old.id)
    assert purge_results(cast.hub, cast.admin).purged == []  # idempotent


def test_retention_comes_from_hub_toml(cast: Cast) -> None:
    from passerelle.errors import ConfigError
    from passerelle.hub.hub import load_config

    directory = cast.hub.config.directory
    config = directory / "hub.toml"
    assert "result_retention_days = 90" in config.read_text()
    assert load_config(directory).result_retention_days == 90
    text = config.read_text()
    for bad in ("0", "-3", '"30"', "1.5", "true"):
        config.write_text(
            text.replace("result_retention_days = 90", f"result_retention_days = {bad}")
        )
        with pytest.raises(ConfigError, match="result_retention_days"):
            load_config(directory)
    config.write_text(text.replace("result_retention_days = 90", "result_retention_days = 7"))
    assert load_config(directory).result_retention_days == 7


def test_a_failed_record_leaves_no_result_file(cast: Cast, project: int) -> None:
    """The database refuses the record after the result was stored: the file goes too."""

    def refuse(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO QUERIES"):
            raise RuntimeError("the database went away")

    engine = cast.hub.db.engine
    event.listen(engine, "before_cursor_execute", refuse)
    try:
        with pytest.raises(RuntimeError, match="went away"):
            run_query(cast.hub, cast.alice, project, SQL)
    finally:
        event.remove(engine, "before_cursor_execute", refuse)
    assert result_keys(cast, project) == []
    with cast.hub.db.read() as session:
        assert session.execute(select(QueryRecord)).first() is None


def test_a_failed_result_write_leaves_no_record(cast: Cast, project: int) -> None:
    store = cast.hub.store()
    plan = FaultPlan(seed=1, transient=1.0, operations=frozenset({"put"}))
    cast.hub._stores["store"] = FaultInjectingStore(store, plan)
    try:
        with pytest.raises(TransientError):
            run_query(cast.hub, cast.alice, project, SQL)
    finally:
        cast.hub._stores["store"] = store
    assert list_queries(cast.hub, cast.alice, project) == []
    assert result_keys(cast, project) == []
    failed = [e for e in events(cast, "query.run") if e["decision"] == "error"]
    assert failed[-1]["details"]["reason"] == "result-store"


def test_the_types_that_used_to_fail_make_whole_records(cast: Cast, project: int) -> None:
    sql = (
        "SELECT INTERVAL '1 month 2 days 3 hours' AS span, "
        "union_value(n := 2)::UNION(n INTEGER, s VARCHAR) AS u, "
        "'infinity'::DATE AS forever"
    )
    view, table = run_query(cast.hub, cast.alice, project, sql)
    assert result_keys(cast, project) == [view.result_key]
    stored = read_result(cast.hub, cast.alice, view.id)
    assert stored.equals(table)
    assert stored.column("span").to_pylist() == ["P1M2DT3H"]
    assert stored.column("u").to_pylist() == [{"tag": "n", "n": 2, "s": None}]


def test_a_result_the_hub_cannot_keep_is_refused_in_one_sentence(
    cast: Cast, project: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A type no rule covers is refused before anything is written (no record, no file)."""
    import pyarrow as pa

    from passerelle.research import results

    def refuse(table: pa.Table) -> pa.Table:
        raise UsageError("the result has a column of type x the hub cannot keep exactly")

    monkeypatch.setattr(results, "storable_table", refuse)
    with pytest.raises(UsageError, match="cannot keep"):
        run_query(cast.hub, cast.alice, project, SQL)
    assert list_queries(cast.hub, cast.alice, project) == []
    assert result_keys(cast, project) == []
    failed = [e for e in events(cast, "query.run") if e["decision"] == "error"]
    assert failed[-1]["details"]["reason"] == "result-type"


def test_a_changed_result_file_is_refused(cast: Cast, project: int) -> None:
    view, _ = run_query(cast.hub, cast.alice, project, SQL)
    body = cast.hub.store().get(view.result_key).read()
    cast.hub.store().put(view.result_key, body + b"x", size=len(body) + 1)
    with pytest.raises(ConflictError, match="SHA-256"):
        read_result(cast.hub, cast.alice, view.id)


def test_purge_sweeps_result_files_without_a_record(cast: Cast, project: int) -> None:
    view, _ = run_query(cast.hub, cast.alice, project, SQL)
    orphan = f"workspaces/project-{project}/queries/result-{'0' * 32}.parquet"
    extract = f"workspaces/project-{project}/extracts/stays/part-0.parquet"
    for key in (orphan, extract):
        cast.hub.store().put(key, b"PAR1", size=4)
    assert purge_results(cast.hub, cast.admin).orphans_deleted == []  # too recent to judge
    report = purge_results(cast.hub, cast.admin, orphan_grace=timedelta(0))
    assert report.orphans_deleted == [orphan]
    assert sorted(result_keys(cast, project)) == [view.result_key]
    assert cast.hub.store().head(extract).size == 4  # only query results are swept
    assert events(cast, "query.result-orphans")[-1]["details"]["deleted"] == 1


def test_revision_0005_goes_down_and_up_and_old_results_stay_readable(
    cast: Cast, project: int
) -> None:
    from sqlalchemy import inspect, text

    view, table = run_query(cast.hub, cast.alice, project, SQL)
    db = cast.hub.db
    db.downgrade("0004")
    columns = {c["name"] for c in inspect(db.engine).get_columns("queries")}
    assert not columns & {"purged_at", "result_sha256"}
    db.upgrade()
    columns = {c["name"] for c in inspect(db.engine).get_columns("queries")}
    assert {"purged_at", "result_sha256"} <= columns
    with db.read() as session:  # a record from before 0005 has no digest to check
        assert session.execute(text("SELECT result_sha256 FROM queries")).scalar() == ""
    assert read_result(cast.hub, cast.alice, view.id).equals(table)
