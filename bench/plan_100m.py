"""Inventory and plan 100 million objects: objects/s, peak RSS (target < 300 MB), journal size.

Two generator-backed listings stand in for the source (``--objects`` keys, 1,024
to 5,119 bytes) and the destination (every third of those keys already there),
listed in key order as S3, Azure Blob and GCS list; nothing is held in memory,
so the benchmark measures passerelle's listing conversion, diff, decisions and
journal -- not a server.  A thread samples the process's RSS every second and
the script prints it against the number of keys planned, to show memory flat.
Run: ``bash bench/run.sh plan100m [--objects 100000000]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from passerelle.migration import PlanOptions, plan_migration  # noqa: E402
from passerelle.storage import StoreWrapper, open_store  # noqa: E402
from passerelle.storage.model import ObjectInfo  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_10m import STAMP  # noqa: E402

PREFIXES = 1000  # keys are hdh/<i % 1000>/<i>.parquet, as in plan_10m.py


class SortedSyntheticLister(StoreWrapper):
    """Lists the keys ``i < count`` with ``i % modulus == 0`` in key order, generated on the fly."""

    def __init__(self, url: str, count: int, modulus: int = 1) -> None:
        super().__init__(open_store(url))
        self.count = count
        self.modulus = modulus

    def list(
        self, prefix: str = "", *, page_size: int = 1000, details: bool = False
    ) -> Iterator[ObjectInfo]:
        count, modulus = self.count, self.modulus
        for p in range(PREFIXES):
            # i = p (mod 1000) and i = 0 (mod modulus): the first such i, then every lcm
            first = next(i for i in range(p, p + PREFIXES * modulus, PREFIXES) if i % modulus == 0)
            for i in range(first, count, PREFIXES * modulus):
                yield ObjectInfo(
                    key=f"hdh/{p:03d}/{i:09d}.parquet",
                    size=1024 + i % 4096,
                    etag=f'"{i:032x}"',
                    last_modified=STAMP,
                )


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    """Samples VmRSS every ``interval`` seconds with the progress reported so far."""

    def __init__(self, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.done = 0
        self.samples: list[tuple[float, int, int]] = []  # (seconds, keys planned, RSS kB)
        self._stop_event = threading.Event()
        self.started_at = time.perf_counter()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.samples.append(
                (time.perf_counter() - self.started_at, self.done, _status_kb("VmRSS:"))
            )

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=100_000_000)
    parser.add_argument("--workdir", help="folder for the journal (default: a new temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the journal afterwards")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="passerelle-plan100m-"))
    journal = workdir / "j.db"
    src = SortedSyntheticLister("memory://plan100m-src", args.objects)
    dst = SortedSyntheticLister("memory://plan100m-dst", args.objects, modulus=3)
    sampler = RssSampler()
    last = [0.0]

    def progress(stage: str, done: int) -> None:
        sampler.done = done
        now = time.perf_counter() - sampler.started_at
        if now - last[0] >= 30:
            last[0] = now
            print(
                f"  {stage}: {done:,} keys ({now:.0f} s, {done / now:,.0f}/s, "
                f"RSS {_status_kb('VmRSS:') / 1024:.0f} MB)",
                file=sys.stderr,
                flush=True,
            )

    sampler.start()
    summary = plan_migration(
        "memory://plan100m-src",
        "memory://plan100m-dst",
        journal,
        PlanOptions(),
        source=src,
        dest=dst,
        on_progress=progress,
    )
    seconds = time.perf_counter() - sampler.started_at
    sampler.stop()
    on_disk = sum(p.stat().st_size for p in workdir.glob("j.db*"))
    print("RSS while planning (keys planned -> RSS):")
    samples = sampler.samples
    for fraction in (0.1, 0.25, 0.5, 0.75, 1.0):
        if samples:
            t, done, kb = samples[min(len(samples) - 1, int(fraction * (len(samples) - 1)))]
            print(f"  {t:6.0f} s  {done:>13,} keys  {kb / 1024:6.0f} MB")
    peak = _status_kb("VmHWM:") / 1024
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"planned {args.objects:,} source objects ({summary.counts}) in {seconds:.0f} s "
        f"({args.objects / seconds:,.0f} objects/s); peak RSS {peak:.0f} MB; "
        f"journal {on_disk / 1e9:.2f} GB; CPU {usage.ru_utime:.0f} s user + "
        f"{usage.ru_stime:.0f} s system",
        flush=True,
    )
    if args.keep:
        print(f"journal kept at {journal}")
    elif args.workdir:
        for path in workdir.glob("j.db*"):
            os.remove(path)
    else:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
