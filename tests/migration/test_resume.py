"""kill -9 at several points of a real `passerelle migrate run`, then resume."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from passerelle.migration import verify_migration
from passerelle.migration.journal import Journal
from passerelle.storage import open_store
from tests.backends import new_store_url

from .conftest import populate

RESUME_PAIRS = [("file", "file"), ("azurite", "ceph"), ("azurite", "swift"), ("swift", "ceph")]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "passerelle", *args]


def done_rows(journal: Path) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute("SELECT key, copied_at FROM objects WHERE status = 'done'").fetchall()
    finally:
        conn.close()
    return dict(rows)


def wait_until_done(
    journal: Path, at_least: int, proc: subprocess.Popen[bytes], limit: float
) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if len(done_rows(journal)) >= at_least:
                return
        except sqlite3.OperationalError:
            pass
        time.sleep(0.02)


@pytest.mark.parametrize(("a", "b"), RESUME_PAIRS, ids=[f"{a}-{b}" for a, b in RESUME_PAIRS])
def test_kill_9_at_several_points_then_resume(a: str, b: str, tmp_path: Path) -> None:
    src_url = new_store_url(a, tmp_path / "a", "src")
    dst_url = new_store_url(b, tmp_path / "b", "dst")
    objects = populate(open_store(src_url), 150, large=2)
    journal = tmp_path / "j.db"
    env = {**os.environ, "NO_COLOR": "1"}
    plan = subprocess.run(
        cli("migrate", "plan", src_url, dst_url, "-j", str(journal), "--part-size", "5MiB"),
        capture_output=True,
        text=True,
        env=env,
    )
    assert plan.returncode == 0, plan.stderr
    dst = open_store(dst_url)
    snapshots: list[dict[str, str]] = []
    for threshold in (15, 60, 110):
        proc = subprocess.Popen(
            cli(
                "migrate",
                "run",
                "-j",
                str(journal),
                "--concurrency",
                "4",
                "--inject-faults",
                "seed=3,latency=1,latency_s=0.005-0.02",
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        wait_until_done(journal, threshold, proc, limit=60)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        snapshot = done_rows(journal)
        snapshots.append(snapshot)
        for key in snapshot:  # nothing half-written is ever marked done
            assert dst.head(key).size == len(objects[key])
        for info in dst.list():  # and no partial object is ever visible
            assert info.size == len(objects[info.key]), info.key
    assert any(0 < len(s) < len(objects) for s in snapshots), "no kill landed mid-run"
    final = subprocess.run(
        cli("migrate", "run", "-j", str(journal)), capture_output=True, text=True, env=env
    )
    assert final.returncode == 0, final.stderr + final.stdout
    after = done_rows(journal)
    assert set(after) == set(objects)
    for snapshot in snapshots:  # finished objects are never copied again
        for key, copied_at in snapshot.items():
            assert after[key] == copied_at, key
    assert verify_migration(journal, deep=True).ok
    verify = subprocess.run(
        cli("migrate", "verify", "-j", str(journal), "--deep"),
        capture_output=True,
        text=True,
        env=env,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    if b == "file":
        leftovers = [p for p in Path(dst_url.removeprefix("file://")).rglob("*#*")]
        assert leftovers == []


def test_crash_leftover_multipart_upload_is_aborted(tmp_path: Path) -> None:
    """A run that died mid-upload leaves an incomplete S3 upload; the next run aborts it."""
    src_url = new_store_url("file", tmp_path / "a", "src")
    dst_url = new_store_url("ceph", tmp_path / "b", "dst")
    populate(open_store(src_url), 3, large=1)
    journal = tmp_path / "j.db"
    subprocess.run(
        cli("migrate", "plan", src_url, dst_url, "-j", str(journal)),
        check=True,
        capture_output=True,
    )
    dst = open_store(dst_url)
    client = dst._admin.client  # the SDK client the store uses
    bucket = dst._admin.bucket
    upload = client.create_multipart_upload(Bucket=bucket, Key="large/blob-0.bin")
    client.upload_part(
        Bucket=bucket,
        Key="large/blob-0.bin",
        PartNumber=1,
        UploadId=upload["UploadId"],
        Body=b"x" * (5 * 1024 * 1024),
    )
    j = Journal.open(journal)
    j.claim_batch("", 10)  # as a crashed run would have left them: 'copying'
    j.close()
    time.sleep(1.1)  # S3 timestamps have one-second resolution
    result = subprocess.run(
        cli("migrate", "run", "-j", str(journal)), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert verify_migration(journal, deep=True).ok


def test_crash_leftover_swift_segments_are_aborted(tmp_path: Path) -> None:
    """A run that died mid-upload leaves a segment set no manifest names; the next run
    removes it and leaves no orphan segment once the object is copied."""
    src_url = new_store_url("file", tmp_path / "a", "src")
    dst_url = new_store_url("swift", tmp_path / "b", "dst")
    populate(open_store(src_url), 3, large=1)
    journal = tmp_path / "j.db"
    subprocess.run(
        cli("migrate", "plan", src_url, dst_url, "-j", str(journal)),
        check=True,
        capture_output=True,
    )
    dst = open_store(dst_url)
    leftover = dst.start_upload("large/blob-0.bin")
    leftover.upload_part(1, b"x" * (5 * 1024 * 1024))
    assert [u.upload_id for u in dst.list_uploads()] == [leftover.upload_id]
    j = Journal.open(journal)
    j.claim_batch("", 10)  # as a crashed run would have left them: 'copying'
    j.close()
    time.sleep(0.05)  # the run's start must come after the leftover's segments
    result = subprocess.run(
        cli("migrate", "run", "-j", str(journal)), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert list(dst.list_uploads()) == []
    assert verify_migration(journal, deep=True).ok
