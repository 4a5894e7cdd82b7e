"""kill -9 in the middle of a large object, then resume from its completed parts.

The journal records which pass sent each part; after the resume, the parts the
killed run sent still carry its pass and timestamp (they were not sent again),
the object verifies deep, and no incomplete upload is left at the destination.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from passerelle.errors import ObjectNotFoundError
from passerelle.migration import verify_migration
from passerelle.storage import Store, open_store
from passerelle.storage.model import MiB
from tests.backends import new_store_url

from .test_resume import cli

BIG = "large/scan.bin"
BIG_SIZE = 40 * MiB + 321
PART = 5 * MiB
DESTINATIONS = ["ceph", "seaweedfs", "azurite", "swift"]


def _rows(journal: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def _parts(journal: Path) -> dict[int, tuple[int, str]]:
    rows = _rows(
        journal, "SELECT number, pass_id, uploaded_at FROM upload_parts WHERE key = ?", BIG
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def _incomplete_uploads(dst: Store) -> list[str]:
    """Multipart uploads (S3), uncommitted blocks (Azure) or segment sets no manifest
    names (Swift) still at the destination."""
    if dst.url.startswith("swift://"):
        return [u.upload_id for u in dst.list_uploads()]
    admin: Any = dst._admin  # type: ignore[attr-defined]
    if dst.url.startswith("az://"):
        blob = admin.service.get_blob_client(admin.container, BIG)
        try:
            _committed, uncommitted = blob.get_block_list("uncommitted")
        except Exception:  # no blob and no blocks at all
            return []
        return [b.id for b in uncommitted]
    page = admin.client.list_multipart_uploads(Bucket=admin.bucket)
    return [u["UploadId"] for u in page.get("Uploads", [])]


@pytest.mark.parametrize("b", DESTINATIONS)
def test_kill_9_mid_object_resumes_from_completed_parts(b: str, tmp_path: Path) -> None:
    src_url = new_store_url("azurite", tmp_path / "a", "src")
    dst_url = new_store_url(b, tmp_path / "b", "dst")
    src = open_store(src_url)
    data = os.urandom(BIG_SIZE)
    src.put(BIG, data, content_type="application/dicom", metadata={"patient_batch": "7"})
    src.put("small.csv", b"a,b\n", content_type="text/csv")
    journal = tmp_path / "j.db"
    env = {**os.environ, "NO_COLOR": "1"}
    plan = subprocess.run(
        cli("migrate", "plan", src_url, dst_url, "-j", str(journal), "--part-size", "5MiB"),
        capture_output=True,
        text=True,
        env=env,
    )
    assert plan.returncode == 0, plan.stderr
    proc = subprocess.Popen(
        cli("migrate", "run", "-j", str(journal), "--max-bandwidth", "6MB/s"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and len(_parts(journal)) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _parts(journal)
    total = -(-BIG_SIZE // PART)
    assert 3 <= len(before) < total, f"the kill did not land mid-object: {len(before)} parts"
    dst = open_store(dst_url)
    with pytest.raises(ObjectNotFoundError):  # no partial object is visible
        dst.head(BIG)
    assert _incomplete_uploads(dst), "the upload to resume should still be there"

    final = subprocess.run(
        cli("migrate", "run", "-j", str(journal)), capture_output=True, text=True, env=env
    )
    assert final.returncode == 0, final.stderr + final.stdout
    after = _parts(journal)
    assert sorted(after) == list(range(1, total + 1))
    for number, sent in before.items():  # completed parts were not sent again
        assert after[number] == sent, number
    stats = json.loads(
        _rows(journal, "SELECT stats FROM passes WHERE command = 'run' ORDER BY id DESC")[0][0]
    )
    assert stats["parts_reused"] == len(before)
    assert stats["parts_sent"] == total - len(before)
    digests = dict(_rows(journal, "SELECT number, sha256 FROM upload_parts WHERE key = ?", BIG))
    for number in range(1, total + 1):  # each part's SHA-256 is that of its source bytes
        chunk = data[(number - 1) * PART : number * PART]
        assert digests[number] == hashlib.sha256(chunk).hexdigest(), number
    assert dst.get(BIG).read() == data
    info = dst.head(BIG)
    assert info.content_type == "application/dicom"
    assert (info.metadata or {}).get("patient_batch") == "7"
    assert verify_migration(journal, deep=True).ok
    assert _incomplete_uploads(dst) == []


def test_source_changed_between_kill_and_resume_is_marked_changed(tmp_path: Path) -> None:
    """The journaled upload belongs to the old version: it is aborted, nothing is done."""
    src_url = new_store_url("azurite", tmp_path / "a", "src")
    dst_url = new_store_url("ceph", tmp_path / "b", "dst")
    src = open_store(src_url)
    src.put(BIG, os.urandom(BIG_SIZE))
    journal = tmp_path / "j.db"
    env = {**os.environ, "NO_COLOR": "1"}
    subprocess.run(
        cli("migrate", "plan", src_url, dst_url, "-j", str(journal), "--part-size", "5MiB"),
        check=True,
        capture_output=True,
        env=env,
    )
    proc = subprocess.Popen(
        cli("migrate", "run", "-j", str(journal), "--max-bandwidth", "6MB/s"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and len(_parts(journal)) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(_parts(journal)) >= 2
    src.put(BIG, os.urandom(BIG_SIZE))  # same size, new bytes, new ETag
    rerun = subprocess.run(
        cli("migrate", "run", "-j", str(journal)), capture_output=True, text=True, env=env
    )
    assert rerun.returncode != 0
    assert _rows(journal, "SELECT status FROM objects WHERE key = ?", BIG) == [("changed",)]
    dst = open_store(dst_url)
    with pytest.raises(ObjectNotFoundError):
        dst.head(BIG)
    assert _incomplete_uploads(dst) == []
    assert _parts(journal) == {}
