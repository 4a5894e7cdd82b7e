"""The per-worker table: pure tallies, and the journal's schema-1 -> 2 migration."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from passerelle.migration.journal import SCHEMA_VERSION, Journal
from passerelle.migration.worker_health import WorkerHealth, tally, throughput

outcome = st.tuples(
    st.sampled_from(["w1", "w2", "w3"]),
    st.sampled_from(["done", "failed", "changed"]),
    st.integers(0, 10**9),
)


@given(st.lists(outcome), st.lists(outcome))
def test_tally_in_batches_equals_tally_at_once(first: list, second: list) -> None:
    once = tally({}, first + second, None, "t")
    batched = tally(tally({}, first, None, "t"), second, None, "t")
    assert once == batched
    done = [o for o in first + second if o[1] == "done"]
    assert sum(w.objects for w in once.values()) == len(done)
    assert sum(w.bytes for w in once.values()) == sum(o[2] for o in done)
    assert sum(w.failures for w in once.values()) == sum(o[1] == "failed" for o in first + second)


def test_a_worker_absent_from_the_live_list_is_lost_and_unknown_keeps_state() -> None:
    table = tally({}, [("w1", "done", 5), ("w2", "done", 7)], ["w1", "w2", "w3"], "t1")
    assert [w.name for w in table.values()] == ["w1", "w2", "w3"]
    assert table["w3"] == WorkerHealth("w3", last_seen="t1")
    table = tally(table, [("w1", "done", 1)], ["w1", "w3"], "t2")
    assert not table["w2"].alive and table["w2"].bytes == 7 and table["w2"].last_seen == "t1"
    assert table["w1"].alive and table["w1"].last_seen == "t2"
    assert tally(table, [], None, "t3") == table  # the scheduler did not answer


def test_throughput_rate_and_eta() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rate, eta = throughput(1000, now - timedelta(seconds=10), now, 500)
    assert rate == 100 and eta == 5
    assert throughput(0, now - timedelta(seconds=10), now, 500) == (0, None)
    assert throughput(10, "2025-12-31T23:59:50.000000Z", now, 0) == (1, 0.0)


def test_a_schema_1_journal_gets_its_workers_table_from_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    journal = Journal.create(path, source_url="memory://a", dest_url="memory://b", options={})
    journal._conn.execute("DROP TABLE workers")
    journal._conn.execute("PRAGMA user_version=1")
    assert journal.workers(1) == []  # a reader copes with schema 1
    journal.ensure_worker_table()
    journal.record_workers(1, [WorkerHealth("local", 3, 30, 1, "t", True)])
    journal.record_workers(1, [WorkerHealth("local", 4, 40, 1, "t2", False)])
    assert journal.workers(1) == [WorkerHealth("local", 4, 40, 1, "t2", False)]
    journal.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    conn.close()
