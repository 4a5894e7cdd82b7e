"""Results through the CLI as users type it: who reads them, every type rendered, the purge.

The hub is built in-process (SQLite and PostgreSQL) on today's date, then driven
with the real ``passerelle`` entry point in a subprocess.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from passerelle import hub as H
from tests.cli.test_storage_commands import assert_one_sentence, run_cli
from tests.hub.conftest import Cast, approved_project, cast, db_kind
from tests.research.result_types import SCALARS, csv_cell

__all__ = ["cast", "db_kind"]  # the hub's fixtures, on SQLite and PostgreSQL

EXACT = [s for s in SCALARS if not s.lossless]
SQL = "SELECT " + ", ".join(f"{s.sql} AS c{i}" for i, s in enumerate(EXACT))


@pytest.fixture
def today(cast: Cast) -> dict[str, str]:
    """The cast's hub on the real clock, with fresh tokens (the CLI runs on real time)."""
    cast.clock.now = datetime.now(UTC)
    names = ("admin", "alice", "bob", "steward", "checker", "auditor")
    return {n: H.issue_token(cast.hub, cast.admin, user=n).secret for n in names}


def run_as(cast: Cast, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PASSERELLE_HUB": str(cast.hub.config.directory), "PASSERELLE_TOKEN": token}
    return run_cli(*args, env=env)


def cli(cast: Cast, token: str, *args: str) -> tuple[int, str, str]:
    proc = run_as(cast, token, *args)
    return proc.returncode, proc.stdout, proc.stderr


def test_results_through_the_cli(cast: Cast, today: dict[str, str], tmp_path: Path) -> None:
    pid = approved_project(cast, end=datetime.now(UTC).date() + timedelta(days=365))
    code, out, err = cli(cast, today["alice"], "query", "--project", str(pid), "--json", SQL)
    assert code == 0, err
    run = json.loads(out)
    expected = {f"c{i}": s.json for i, s in enumerate(EXACT)}
    assert run["rows"] == [expected]
    qid = str(run["query"]["id"])

    code, out, err = cli(cast, today["alice"], "queries", "result", qid, "--format", "json")
    assert code == 0, err
    assert json.loads(out) == [expected]
    code, out, err = cli(cast, today["alice"], "queries", "result", qid, "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[1] == [csv_cell(s.json) for s in EXACT]
    target = tmp_path / "r.parquet"
    code, out, err = cli(
        cast, today["alice"], "queries", "result", qid, "-f", "parquet", "-o", str(target)
    )
    assert code == 0, err
    assert pq.read_table(target).num_columns == len(EXACT)
    code, out, err = cli(cast, today["alice"], "queries", "result", qid)  # every type, as a table
    assert code == 0 and "Traceback" not in err, err
    few = "SELECT 'infinity'::DATE AS d, INTERVAL '90 minutes' AS i, 2::UHUGEINT AS u"
    code, out, err = cli(cast, today["alice"], "query", "--project", str(pid), few)
    assert code == 0, err
    assert "infinity" in out and "PT1H30M" in out and "Traceback" not in err
    few_id = err.split("query ", 1)[1].split(":", 1)[0]
    code, out, err = cli(cast, today["alice"], "queries", "result", few_id)  # the terminal table
    assert code == 0, err
    assert "infinity" in out and "PT1H30M" in out and "Traceback" not in err

    for who in ("bob", "admin", "steward", "checker", "auditor"):
        hidden = run_as(cast, today[who], "queries", "result", qid)
        missing = run_as(cast, today[who], "queries", "result", "999999")
        assert_one_sentence(hidden, "query")
        assert hidden.stderr.replace(qid, "N") == missing.stderr.replace("999999", "N"), who

    H.change_status(cast.hub, cast.steward, pid, "suspend")
    suspended = run_as(cast, today["alice"], "queries", "result", qid)
    assert_one_sentence(suspended, "suspended")


def test_purge_from_the_cli(cast: Cast, today: dict[str, str]) -> None:
    pid = approved_project(cast, end=datetime.now(UTC).date() + timedelta(days=365))
    cast.clock.now = datetime.now(UTC) - timedelta(days=200)  # a query run long ago
    from passerelle.workspace import run_query

    view, _ = run_query(cast.hub, cast.alice, pid, "SELECT 1 AS one")
    assert_one_sentence(run_as(cast, today["alice"], "queries", "purge"), "admin")
    expired = run_as(cast, today["alice"], "queries", "result", str(view.id))
    assert_one_sentence(expired, "expired")
    done = run_as(cast, today["admin"], "queries", "purge", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["purged"] == [view.id]
    assert not list(cast.hub.store().list(f"workspaces/project-{pid}/queries/"))
