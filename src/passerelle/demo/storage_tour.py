"""A short end-to-end walk through the storage layer on two local folders.

Two folders stand in for two clouds.  The tour writes a small synthetic
"hospital extract" into the first, copies it to the second while hashing every
byte, re-reads the second to prove the copy, and returns what happened.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from passerelle.migration.copy import SHA256_KEY, hash_object, stream_copy
from passerelle.storage import open_store

__all__ = ["TourResult", "run_storage_tour"]


@dataclass(frozen=True, slots=True)
class TourResult:
    source_url: str
    destination_url: str
    objects: int
    bytes: int
    seconds: float
    verified: int
    mismatches: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.verified == self.objects and not self.mismatches


def _synthetic_files(count: int, seed: int) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    files = []
    for i in range(count):
        rows = ["stay_id,finess,admission,discharge,icd10"]
        for j in range(rng.randint(20, 400)):
            day = rng.randint(1, 28)
            rows.append(
                f"S{i:04d}{j:05d},{rng.randint(10**8, 10**9 - 1)},2026-03-{day:02d},"
                f"2026-03-{min(28, day + rng.randint(0, 9)):02d},"
                f"{rng.choice('ABCDEIJK')}{rng.randint(0, 99):02d}"
            )
        files.append((f"pmsi/2026/03/extract-{i:04d}.csv", ("\n".join(rows) + "\n").encode()))
    return files


def run_storage_tour(
    workdir: Path,
    *,
    objects: int = 200,
    seed: int = 2026,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> TourResult:
    """Write, copy with digests, and verify ``objects`` files between two folders."""
    src = open_store(f"file://{(workdir / 'cloud-a').resolve()}")
    dst = open_store(f"file://{(workdir / 'cloud-b').resolve()}")
    src.create_container()
    dst.create_container()
    files = _synthetic_files(objects, seed)
    for n, (key, data) in enumerate(files, 1):
        src.put(
            key,
            data,
            content_type="text/csv",
            metadata={"source": "synthetic", "rows": str(data.count(b"\n") - 1)},
        )
        if on_progress:
            on_progress("write", n, len(files))
    started = time.perf_counter()
    total = 0
    results = {}
    keys = [info.key for info in src.list()]
    for n, key in enumerate(keys, 1):
        result = stream_copy(src, key, dst)
        results[key] = result
        total += result.size
        if on_progress:
            on_progress("copy", n, len(keys))
    seconds = time.perf_counter() - started
    mismatches = []
    verified = 0
    expected = {key: hashlib.sha256(data).hexdigest() for key, data in files}
    for n, key in enumerate(keys, 1):
        size, digest = hash_object(dst, key)
        recorded = (dst.head(key).metadata or {}).get(SHA256_KEY)
        if digest == expected[key] == recorded == results[key].sha256 and size == results[key].size:
            verified += 1
        else:
            mismatches.append(key)
        if on_progress:
            on_progress("verify", n, len(keys))
    return TourResult(src.url, dst.url, len(keys), total, seconds, verified, tuple(mismatches))
