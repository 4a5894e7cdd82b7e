"""Source/destination pairs for migration tests: local ones, Azurite -> S3 servers and Swift
(Azurite -> Swift, Swift -> Ceph RGW's S3)."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from passerelle.storage import Store, open_store
from passerelle.storage.model import MiB
from tests.backends import new_store_url

PAIRS = [
    ("memory", "file"),
    ("file", "file"),
    ("azurite", "ceph"),
    ("azurite", "seaweedfs"),
    ("azurite", "swift"),
    ("swift", "ceph"),
]


@dataclass
class Pair:
    src_url: str
    dst_url: str
    src: Store
    dst: Store
    journal: Path


@pytest.fixture(params=PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Pair:
    a, b = request.param
    src_url = new_store_url(a, tmp_path / "a", "src")
    dst_url = new_store_url(b, tmp_path / "b", "dst")
    return Pair(src_url, dst_url, open_store(src_url), open_store(dst_url), tmp_path / "j.db")


def populate(store: Store, count: int = 60, *, large: int = 1, seed: int = 0) -> dict[str, bytes]:
    """Write ``count`` small objects and ``large`` 12 MiB ones; return key -> bytes."""
    rng = __import__("random").Random(seed)
    objects: dict[str, bytes] = {}
    for i in range(count):
        key = f"pmsi/{i % 4}/extract {i:04d}.csv"
        data = rng.randbytes(rng.randint(0, 3000))
        store.put(key, data, content_type="text/csv", metadata={"source_row": str(i)})
        objects[key] = data
    for i in range(large):
        key = f"large/blob-{i}.bin"
        data = rng.randbytes(12 * MiB + 123)
        store.put(
            key,
            iter([data[j : j + MiB] for j in range(0, len(data), MiB)]),
            size=len(data),
            part_size=5 * MiB,
            content_type="application/octet-stream",
        )
        objects[key] = data
    return objects


def assert_proven_copy(dst: Store, objects: Mapping[str, bytes]) -> None:
    """Every object is at the destination, byte-identical, with digests rclone can read."""
    for key, data in objects.items():
        info = dst.head(key)
        meta = info.metadata or {}
        assert info.size == len(data), key
        assert meta.get("passerelle_sha256") == hashlib.sha256(data).hexdigest(), key
        assert meta.get("md5chksum") == base64.b64encode(hashlib.md5(data).digest()).decode()
        assert dst.get(key).read() == data, key


def random_bytes(n: int) -> bytes:
    return os.urandom(n)
