"""Inventory and plan 10 million objects; report time and peak RSS (target < 300 MB).

A synthetic lister stands in for the source (10 million keys) and destination
(a third of them already there), so the benchmark measures passerelle's
inventory, journal and diff -- not a server.  Run: ``bash bench/run.sh plan10m``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from passerelle.migration import PlanOptions, plan_migration  # noqa: E402
from passerelle.storage import StoreWrapper, open_store  # noqa: E402
from passerelle.storage.model import ObjectInfo  # noqa: E402

STAMP = datetime(2026, 11, 1, tzinfo=UTC)


class SyntheticLister(StoreWrapper):
    """Lists ``count`` generated keys (every ``stride``-th one), like a huge bucket would."""

    def __init__(self, url: str, count: int, stride: int = 1) -> None:
        super().__init__(open_store(url))
        self.count = count
        self.stride = stride

    def list(
        self, prefix: str = "", *, page_size: int = 1000, details: bool = False
    ) -> Iterator[ObjectInfo]:
        for i in range(0, self.count, self.stride):
            yield ObjectInfo(
                key=f"hdh/{i % 1000:03d}/{i:09d}.parquet",
                size=1024 + i % 4096,
                etag=f'"{i:032x}"',
                last_modified=STAMP,
            )


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=10_000_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="passerelle-plan10m-"))
    journal = workdir / "j.db"
    src = SyntheticLister("memory://plan10m-src", args.objects)
    dst = SyntheticLister("memory://plan10m-dst", args.objects, stride=3)
    started = time.perf_counter()
    last = [started]

    def progress(stage: str, done: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 10:
            last[0] = now
            print(
                f"  {stage}: {done:,} ({now - started:.0f} s, RSS {rss_mb():.0f} MB)",
                file=sys.stderr,
                flush=True,
            )

    summary = plan_migration(
        "memory://plan10m-src",
        "memory://plan10m-dst",
        journal,
        PlanOptions(),
        source=src,
        dest=dst,
        on_progress=progress,
    )
    seconds = time.perf_counter() - started
    size = journal.stat().st_size
    print(
        f"planned {args.objects:,} source objects ({summary.counts}) in {seconds:.0f} s "
        f"({args.objects / seconds:,.0f} objects/s); peak RSS {rss_mb():.0f} MB; "
        f"journal {size / 1e9:.2f} GB",
        flush=True,
    )
    os.remove(journal)


if __name__ == "__main__":
    main()
