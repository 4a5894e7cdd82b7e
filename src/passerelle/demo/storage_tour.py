"""A short end-to-end walk through the storage layer on two local folders.

Two folders stand in for two clouds.  The tour writes a small synthetic
"hospital extract" into the first, migrates it to the second with the migration
engine (plan, parallel copy hashing every byte, deep verify), checks the digests
against the ones computed when the files were written, and returns what happened.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from passerelle.migration.copy import SHA256_KEY
from passerelle.storage import open_store

__all__ = ["TourResult", "run_storage_tour"]


class _DemoProgress:
    """Adapts the runner's progress events to the demo's (stage, done, total) callback."""

    def __init__(self, callback: Callable[[str, int, int], None] | None, total: int) -> None:
        self.callback, self.total, self.done = callback, total, 0

    def start(self, objects: int, total_bytes: int) -> None:
        self.total = objects

    def advance(self, objects: int, nbytes: int) -> None:
        self.done += objects
        if self.callback:
            self.callback("copy", self.done, self.total)

    def retry(self) -> None:
        pass

    def finish(self) -> None:
        pass


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
    """Write ``objects`` files into one folder, migrate them to another, prove it."""
    from passerelle.migration import plan_migration, run_migration, verify_migration

    src_url = f"file://{(workdir / 'cloud-a').resolve()}"
    dst_url = f"file://{(workdir / 'cloud-b').resolve()}"
    src = open_store(src_url)
    src.create_container()
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
    journal = workdir / "demo.journal"
    started = time.perf_counter()
    plan_migration(src_url, dst_url, journal)
    summary = run_migration(journal, progress=_DemoProgress(on_progress, len(files)))
    seconds = time.perf_counter() - started
    report = verify_migration(journal, deep=True)
    dst = open_store(dst_url)
    expected = {key: hashlib.sha256(data).hexdigest() for key, data in files}
    mismatches = [
        key
        for key, digest in expected.items()
        if (dst.head(key).metadata or {}).get(SHA256_KEY) != digest
    ]
    mismatches += [key for _, key in report.problems()]
    return TourResult(
        src.url,
        dst.url,
        summary.copied,
        summary.bytes,
        seconds,
        report.verified,
        tuple(sorted(set(mismatches))),
    )
