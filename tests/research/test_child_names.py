"""Table names the sandbox child quotes into DuckDB SQL, from outside the statement.

The child names each granted table in a ``CREATE VIEW``; the disclosure queries
name datasets and columns.  Both quote through
:func:`passerelle.research.sql_quoting.quote_identifier`, the only quoting
function: a name DuckDB cannot hold (empty, NUL) is refused in one sentence,
anything else (quotes, semicolons, comments) stays one identifier.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from passerelle.errors import UsageError
from passerelle.research.child import ChildJob, connect, run_in_child, spawn_child
from passerelle.research.disclosure import frequency_query, magnitude_query

HOSTILE = ['x" ; DROP TABLE y; --', 'a""b', "é’\"'", '/* c */ "', "a\nb"]
REFUSED = ["", "a\x00b", "\x00"]


@pytest.fixture
def parquet(tmp_path: Path) -> str:
    path = tmp_path / "part-0.parquet"
    pq.write_table(pa.table({"n": [1, 2, 3]}), path)
    return str(path)


@pytest.mark.parametrize("name", REFUSED, ids=repr)
def test_a_name_duckdb_cannot_hold_is_refused_in_one_sentence(name: str, parquet: str) -> None:
    with pytest.raises(UsageError) as caught:
        connect({name: [parquet]}, 1, 64 * 2**20)
    message = str(caught.value)
    assert message.count(".") == 1 and message.endswith(".") and "\n" not in message
    assert "NUL" in message and "empty" in message
    for build in (
        lambda: frequency_query(name, ["g"], "p"),
        lambda: frequency_query("t", [name], "p"),
        lambda: magnitude_query("t", ["g"], name, "p"),
    ):
        with pytest.raises(UsageError, match="empty or contains a NUL") as other:
            build()
        assert str(other.value) == message  # one function, one sentence


def test_the_child_refuses_such_a_name_with_the_sentence_and_runs_quoted_ones(
    parquet: str, tmp_path: Path
) -> None:
    tables = {name: [parquet] for name in HOSTILE}
    quoted = " UNION ALL ".join(
        'SELECT count(*) AS n FROM "' + name.replace('"', '""') + '"' for name in HOSTILE
    )
    child = spawn_child(tmp_path)
    try:
        report = run_in_child(child, ChildJob(quoted, tables, 1, 256 * 2**20, 100, 60))
    finally:
        child.close()
    assert report.status == {"ok": True, "rows": len(HOSTILE), "truncated": False}
    child = spawn_child(tmp_path)
    try:
        job = ChildJob("SELECT 1", {**tables, "a\x00b": [parquet]}, 1, 256 * 2**20, 100, 60)
        report = run_in_child(child, job)
    finally:
        child.close()
    assert report.status is not None
    assert report.status["ok"] is False and report.status["kind"] == "rule"
    assert report.status["reason"] == "name"
    assert "empty or contains a NUL character" in report.status["message"]


def test_a_path_with_nul_never_reaches_duckdb(parquet: str) -> None:
    with pytest.raises(UsageError, match="NUL"):
        connect({"t": [parquet + "\x00/etc/passwd"]}, 1, 64 * 2**20)
