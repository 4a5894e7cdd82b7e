from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from passerelle.errors import UsageError
from passerelle.migration.journal import Journal


def test_create_is_idempotent_for_the_same_migration(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    first = Journal.create(path, source_url="memory://a", dest_url="memory://b", options={})
    mid = first.migration_id
    first.close()
    again = Journal.create(path, source_url="memory://a", dest_url="memory://b", options={"x": 1})
    assert again.migration_id == mid and again.options == {"x": 1}
    again.close()


def test_journal_of_another_migration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal.create(path, source_url="memory://a", dest_url="memory://b", options={}).close()
    with pytest.raises(UsageError, match="belongs to another migration"):
        Journal.create(path, source_url="memory://a", dest_url="memory://c", options={})


def test_opening_wrong_files_says_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="No journal at"):
        Journal.open(tmp_path / "missing.db")
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a database at all" * 100)
    with pytest.raises(UsageError, match="not a passerelle journal"):
        Journal.open(text)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(UsageError, match="not a passerelle journal"):
        Journal.open(other)
    with pytest.raises(UsageError, match="does not exist"):
        Journal.create(
            tmp_path / "no" / "j.db", source_url="memory://a", dest_url="memory://b", options={}
        )


def test_claims_and_outcomes_move_states(tmp_path: Path) -> None:
    j = Journal.create(
        tmp_path / "j.db", source_url="memory://a", dest_url="memory://b", options={}
    )
    j.write_plan([(f"k{i}", "copy", "r", "pending", 10, '"e"', None, None, None) for i in range(5)])
    batch = j.claim_batch("", 3)
    assert [r.key for r in batch] == ["k0", "k1", "k2"]
    assert {r.key for r in j.interrupted()} == {"k0", "k1", "k2"}
    j.record_outcomes([{"key": "k0", "status": "done", "sha256": "s", "md5": "m"}])
    j.requeue(["k1", "k2"])
    counts = j.counts()
    assert counts["done"]["objects"] == 1 and counts["pending"]["objects"] == 4
    assert j.get("k1").attempts == 1  # type: ignore[union-attr]
    j.close()
