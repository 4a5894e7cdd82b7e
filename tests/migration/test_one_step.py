"""`migrate copy SRC DST -j J` (plan + run in one process) and the plan's MD5 choice."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import pytest

from passerelle.migration import PlanOptions, RunOptions, plan_migration, verify_migration
from passerelle.migration.one_step import copy_store
from passerelle.storage import open_store
from tests.backends import new_store_url
from tests.cli.test_storage_commands import assert_one_sentence, run_cli

from .conftest import Pair, assert_proven_copy, populate


def _md5_column(journal: Path) -> list[object]:
    conn = sqlite3.connect(journal)
    try:
        return [row[0] for row in conn.execute("SELECT md5 FROM objects WHERE status = 'done'")]
    finally:
        conn.close()


def test_copy_plans_copies_and_proves_in_one_step(pair: Pair) -> None:
    objects = populate(pair.src, 12, large=1)
    summary = copy_store(pair.src_url, pair.dst_url, pair.journal)
    assert summary.resumed is None and summary.plan is not None
    assert summary.plan.to_copy[0] == len(objects)
    assert summary.run.copied == len(objects) and summary.run.complete
    assert_proven_copy(pair.dst, objects)
    report = verify_migration(pair.journal, deep=True)
    assert report.ok, report


def test_copy_again_copies_only_what_is_new(tmp_path: Path) -> None:
    src_url = new_store_url("file", tmp_path, "src")
    dst_url = new_store_url("file", tmp_path, "dst")
    src = open_store(src_url)
    objects = populate(src, 8, large=0)
    journal = tmp_path / "j.db"
    first = copy_store(src_url, dst_url, journal)
    assert first.run.copied == 8
    src.put("new/one.csv", b"a,b\n1,2\n")
    second = copy_store(src_url, dst_url, journal)
    assert second.resumed is None  # nothing was left to finish
    assert second.run.copied == 1
    assert second.plan is not None and second.plan.counts["identical"][0] == 8
    assert_proven_copy(open_store(dst_url), {**objects, "new/one.csv": b"a,b\n1,2\n"})


def test_copy_finishes_an_interrupted_run_before_listing_again(tmp_path: Path) -> None:
    src_url = new_store_url("file", tmp_path, "src")
    dst_url = new_store_url("file", tmp_path, "dst")
    src = open_store(src_url)
    objects = populate(src, 10, large=0)
    journal = tmp_path / "j.db"
    stop = threading.Event()
    stop.set()  # the first copy is stopped before it copies anything: all is left pending
    stopped = copy_store(src_url, dst_url, journal, stop=stop)
    assert stopped.run.copied == 0 and not stopped.run.complete
    src.put("late/arrival.csv", b"x\n")
    resumed = copy_store(src_url, dst_url, journal)
    assert resumed.resumed is not None and resumed.resumed.copied == 10
    assert resumed.run.copied == 1  # the object that arrived after the first plan
    assert_proven_copy(open_store(dst_url), {**objects, "late/arrival.csv": b"x\n"})
    assert verify_migration(journal, deep=True).ok


@pytest.mark.parametrize("backends", [("file", "file"), ("azurite", "ceph")])
def test_no_md5_keeps_the_sha256_proof_and_stores_no_md5(
    backends: tuple[str, str], tmp_path: Path
) -> None:
    src_url = new_store_url(backends[0], tmp_path / "a", "src")
    dst_url = new_store_url(backends[1], tmp_path / "b", "dst")
    objects = populate(open_store(src_url), 6, large=1)  # one multipart object
    journal = tmp_path / "j.db"
    summary = copy_store(
        src_url, dst_url, journal, PlanOptions(md5=False, part_size=5 * 1024 * 1024)
    )
    assert summary.run.copied == len(objects)
    dst = open_store(dst_url)
    for key, data in objects.items():
        meta = dst.head(key).metadata or {}
        assert meta.get("passerelle_sha256") == hashlib.sha256(data).hexdigest(), key
        assert "md5chksum" not in meta, key
    assert _md5_column(journal) == [None] * len(objects)
    assert verify_migration(journal, deep=True).ok


def test_md5_is_on_by_default_and_kept_in_the_journal(tmp_path: Path) -> None:
    src_url = new_store_url("file", tmp_path, "src")
    dst_url = new_store_url("file", tmp_path, "dst")
    objects = populate(open_store(src_url), 4, large=0)
    journal = tmp_path / "j.db"
    plan_migration(src_url, dst_url, journal)
    copy_store(src_url, dst_url, journal, run=RunOptions(concurrency=2))
    assert_proven_copy(open_store(dst_url), objects)  # md5chksum as rclone writes it
    assert sorted(_md5_column(journal)) == sorted(  # type: ignore[type-var]
        hashlib.md5(d).hexdigest() for d in objects.values()
    )


def test_cli_copy_then_verify_and_report(tmp_path: Path) -> None:
    src = new_store_url("file", tmp_path, "src")
    dst = f"file://{tmp_path / 'dst'}"
    populate(open_store(src), 5, large=0)
    journal = tmp_path / "j.db"
    out = run_cli("migrate", "copy", src, dst, "-j", str(journal), "--no-md5")
    assert out.returncode == 0, out.stderr
    assert "to copy" in out.stdout and "copied 5 objects" in out.stdout
    again = run_cli("migrate", "copy", src, dst, "-j", str(journal))
    assert again.returncode == 0 and "copied 0 objects" in again.stdout
    verify = run_cli("migrate", "verify", "-j", str(journal), "--deep", "--source")
    assert verify.returncode == 0 and "5/5 objects proven" in verify.stdout
    report = tmp_path / "manifest.csv"
    got = run_cli(
        "migrate", "report", "-j", str(journal), "--format", "csv", "--output", str(report)
    )
    assert got.returncode == 0, got.stderr


def test_cli_copy_refuses_another_migrations_journal(tmp_path: Path) -> None:
    src = new_store_url("file", tmp_path, "src")
    populate(open_store(src), 2, large=0)
    journal = tmp_path / "j.db"
    first = run_cli("migrate", "copy", src, f"file://{tmp_path / 'd1'}", "-j", str(journal))
    assert first.returncode == 0, first.stderr
    other = run_cli("migrate", "copy", src, f"file://{tmp_path / 'd2'}", "-j", str(journal))
    assert other.returncode != 0
    assert_one_sentence(other, "belongs to another migration")


def test_cli_copy_bad_input_is_one_sentence(tmp_path: Path) -> None:
    journal = tmp_path / "j.db"
    bad = run_cli("migrate", "copy", "nope://x", f"file://{tmp_path / 'd'}", "-j", str(journal))
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr + bad.stdout
    both = run_cli(
        "migrate",
        "copy",
        f"file://{tmp_path / 's'}",
        f"file://{tmp_path / 'd'}",
        "-j",
        str(journal),
        "--workers",
        "2",
        "--cluster",
        "tcp://127.0.0.1:1",
    )
    assert both.returncode != 0
    assert_one_sentence(both, "not both")
