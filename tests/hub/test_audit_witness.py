"""The witnesses on their own: S3 Object Lock on the real Ceph RGW, and the local file.

These tests play the person who wants a checkpoint gone: they delete, overwrite,
shorten the lock and plant files, with the same credentials as the hub.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from passerelle.errors import ConfigError, ServiceError
from passerelle.hub.audit_chain import GENESIS
from passerelle.hub.checkpoint_chain import Checkpoint, sign_checkpoint
from passerelle.hub.witness import FolderWitness, ObjectLockWitness
from passerelle.storage.admin import S3Admin
from passerelle.storage.config import load_config
from tests.backends import require_backend, unique_name

KEY = b"w" * 32
NOW = datetime.now(UTC)  # Object Lock dates are checked against the server's clock


def checkpoints(n: int) -> list[Checkpoint]:
    out, prev = [], GENESIS
    for number in range(1, n + 1):
        cp = sign_checkpoint(
            KEY, number=number, seq=number * 10, head_hash=f"{number:064x}", at="t", prev=prev
        )
        out.append(cp)
        prev = cp.digest()
    return out


def ceph_admin(bucket: str) -> S3Admin:
    require_backend("ceph")
    return S3Admin(load_config().remotes["ceph"], bucket)


@pytest.fixture
def locked() -> Iterator[ObjectLockWitness]:
    """A witness in a fresh Object Lock bucket on Ceph RGW (objects locked for a day)."""
    bucket = unique_name("witness")
    admin = ceph_admin(bucket)
    admin.create_locked_bucket()
    yield ObjectLockWitness(admin, "hub/audit-checkpoints/", 1, lambda: NOW, f"s3://ceph@{bucket}")


def versions(w: ObjectLockWitness, key: str) -> list[dict[str, Any]]:
    page = w.admin.client.list_object_versions(Bucket=w.admin.bucket, Prefix=key)
    return list(page.get("Versions", []))


def test_checkpoints_are_put_in_compliance_mode(locked: ObjectLockWitness) -> None:
    cps = checkpoints(3)
    for cp in cps:
        locked.record(cp)
    assert locked.numbers() == [1, 2, 3]
    assert locked.get(2) == cps[1]
    assert locked.get(4) is None
    key = "hub/audit-checkpoints/000000000002.json"
    retention = locked.admin.client.get_object_retention(Bucket=locked.admin.bucket, Key=key)
    assert retention["Retention"]["Mode"] == "COMPLIANCE"
    assert retention["Retention"]["RetainUntilDate"] >= NOW + timedelta(hours=23)


def test_the_server_refuses_to_delete_a_locked_version(locked: ObjectLockWitness) -> None:
    cps = checkpoints(2)
    for cp in cps:
        locked.record(cp)
    key = "hub/audit-checkpoints/000000000002.json"
    (version,) = versions(locked, key)
    client = locked.admin.client
    with pytest.raises(ClientError, match="AccessDenied"):
        client.delete_object(Bucket=locked.admin.bucket, Key=key, VersionId=version["VersionId"])
    with pytest.raises(ClientError, match="AccessDenied"):
        client.delete_object(  # only governance mode can be bypassed
            Bucket=locked.admin.bucket,
            Key=key,
            VersionId=version["VersionId"],
            BypassGovernanceRetention=True,
        )
    batch = client.delete_objects(
        Bucket=locked.admin.bucket,
        Delete={"Objects": [{"Key": key, "VersionId": version["VersionId"]}]},
    )
    assert batch.get("Errors") and not batch.get("Deleted")
    assert [v["VersionId"] for v in versions(locked, key)] == [version["VersionId"]]
    # a plain delete only hides the object behind a marker: the witness still reads it
    client.delete_object(Bucket=locked.admin.bucket, Key=key)
    with pytest.raises(ClientError):
        client.get_object(Bucket=locked.admin.bucket, Key=key)
    assert locked.numbers() == [1, 2]
    assert locked.get(2) == cps[1]


def test_an_overwrite_cannot_replace_the_first_version(locked: ObjectLockWitness) -> None:
    cps = checkpoints(2)
    locked.record(cps[0])
    locked.record(cps[1])
    forged = sign_checkpoint(KEY, number=2, seq=5, head_hash="0" * 64, at="later", prev="1" * 64)
    locked.record(forged)  # a second write of number 2 (by a hub or by hand)
    key = "hub/audit-checkpoints/000000000002.json"
    assert len(versions(locked, key)) == 2
    assert locked.get(2) == cps[1]  # write-once: the first version is the witnessed one


def test_the_lock_cannot_be_shortened(locked: ObjectLockWitness) -> None:
    locked.record(checkpoints(1)[0])
    key = "hub/audit-checkpoints/000000000001.json"
    with pytest.raises(ClientError, match=r"AccessDenied|InvalidRequest"):
        locked.admin.client.put_object_retention(
            Bucket=locked.admin.bucket,
            Key=key,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": NOW + timedelta(hours=1)},
        )
    with pytest.raises(ClientError, match=r"AccessDenied|InvalidRequest"):
        locked.admin.client.put_object_retention(
            Bucket=locked.admin.bucket,
            Key=key,
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": NOW + timedelta(days=1)},
        )


def test_a_bucket_without_object_lock_is_refused() -> None:
    bucket = unique_name("nolock")
    admin = ceph_admin(bucket)
    admin.create_container()
    witness = ObjectLockWitness(admin, "hub/", 1, lambda: NOW, f"s3://ceph@{bucket}")
    with pytest.raises(ConfigError, match="has no S3 Object Lock"):
        witness.record(checkpoints(1)[0])
    assert witness.numbers() == []


def test_a_planted_object_is_named(locked: ObjectLockWitness) -> None:
    locked.record(checkpoints(1)[0])
    locked.admin.client.put_object(
        Bucket=locked.admin.bucket, Key="hub/audit-checkpoints/000000000002.json", Body=b"junk"
    )
    assert locked.numbers() == [1, 2]
    with pytest.raises(ServiceError, match="not a checkpoint"):
        locked.get(2)


def test_an_unreachable_witness_is_one_sentence() -> None:
    from passerelle.storage.config import RemoteConfig

    remote = RemoteConfig(
        name="gone", type="s3", endpoint="http://127.0.0.1:9", access_key_id="a",
        secret_access_key="b", max_retries=0, connect_timeout_s=1,
    )  # fmt: skip
    witness = ObjectLockWitness(S3Admin(remote, "nowhere"), "hub/", 1, lambda: NOW, "s3://gone")
    with pytest.raises(Exception) as caught:
        witness.numbers()
    assert "Cannot reach" in str(caught.value) and "\n" not in str(caught.value)


# -- the local file witness --------------------------------------------------------


def test_the_folder_witness_appends_and_keeps_the_first_record(tmp_path: Path) -> None:
    witness = FolderWitness(tmp_path / "w" / "hub.audit-witness.jsonl")
    cps = checkpoints(3)
    for cp in cps:
        witness.record(cp)
    witness.record(dataclass_copy(cps[1], at="rewritten"))
    assert witness.numbers() == [1, 2, 3]
    assert witness.get(2) == cps[1]
    mode = os.stat(witness.path).st_mode & 0o777
    assert mode & 0o002 == 0  # not writable by others


def test_the_folder_witness_names_an_edited_line(tmp_path: Path) -> None:
    witness = FolderWitness(tmp_path / "hub.audit-witness.jsonl")
    for cp in checkpoints(2):
        witness.record(cp)
    lines = witness.path.read_text().splitlines()
    witness.path.write_text("edited\n" + lines[1] + "\n")
    with pytest.raises(ServiceError, match=r"line 1 .* is not a checkpoint"):
        witness.numbers()
    witness.path.write_text(lines[0] + "\n" + lines[1][:20])  # a write cut short by a crash
    assert witness.numbers() == [1]


def dataclass_copy(cp: Checkpoint, **changes: Any) -> Checkpoint:
    import dataclasses

    return dataclasses.replace(cp, **changes)
