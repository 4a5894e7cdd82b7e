"""Research queries over an encrypted dataset vs the same dataset in plaintext.

The stays dataset of ``bench/query_overhead.py`` (10 million rows, 8 Parquet files)
is written twice into one ``file://`` store: in plaintext, and through an
``EncryptingStore`` (envelopes under a key-file KEK).  The same grouped aggregate
SQL (the frequency and magnitude queries a release runs) then runs through the
hub's path -- ``run_sandboxed`` with the scan cache and a warm child, then
``check_release`` -- in rotating order after a warm-up, with each way the scan
cache could treat the encrypted dataset:

* ``plain``: the plaintext dataset, cached copies on disk (today's hub path, the baseline);
* ``plain-shm``: the plaintext dataset, cached copies in ``/dev/shm`` -- what holding
  *decrypted* copies in memory between queries costs per query (plaintext in RAM for as
  long as the hub runs, and surviving a destroyed KEK);
* ``enc-cipher-cache`` (the choice): envelopes cached on disk as stored, each query
  decrypting them through the custody into anonymous memory (memfd) the child reads;
* ``enc-no-cache``: nothing cached, each query reads and decrypts every file from the
  store into memfd (here a local ``file://`` store, so the network fetch a cloud store
  adds is *not* in this number).

Results must be identical to the plaintext ones (checked on every run).  Medians of
``--repeats`` runs; wall seconds and CPU seconds (this process and its reaped children).
Run: ``bash bench/run.sh encrypted-research [--rows N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import pyarrow as pa  # noqa: E402
from query_overhead import cpu_seconds, write_dataset  # noqa: E402

from passerelle.keys.file_custody import FileCustody  # noqa: E402
from passerelle.research import QueryLimits, ScanCache, TableSource, run_sandboxed  # noqa: E402
from passerelle.research.child import ChildPool  # noqa: E402
from passerelle.research.disclosure import (  # noqa: E402
    check_release,
    frequency_query,
    magnitude_query,
)
from passerelle.research.parquet_source import parquet_keys  # noqa: E402
from passerelle.storage import StoreWrapper, open_store  # noqa: E402
from passerelle.storage.encrypting import EncryptingStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated contenders (default: all)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="passerelle-encbench-"))
    shm = Path(tempfile.mkdtemp(prefix="passerelle-encbench-", dir="/dev/shm"))
    pool = ChildPool(1)
    try:
        plain_store = open_store(f"file://{workdir}/plain")
        plain_store.create_container()
        raw_store = open_store(f"file://{workdir}/encrypted")
        raw_store.create_container()
        custody = FileCustody(workdir / "kek.json")
        custody.create_key()
        encrypted = EncryptingStore(raw_store, custody)
        started = time.perf_counter()
        size = write_dataset(plain_store, args.rows)
        plain_s = time.perf_counter() - started
        started = time.perf_counter()
        enc_size = write_dataset(encrypted, args.rows)
        enc_s = time.perf_counter() - started
        stored = sum(o.size for o in raw_store.list())
        print(
            f"dataset: {args.rows:,} rows, 8 Parquet files, {size / 1e6:.1f} MB plaintext "
            f"(written in {plain_s:.1f} s), {stored / 1e6:.1f} MB as envelopes "
            f"(plaintext {enc_size / 1e6:.1f} MB, written in {enc_s:.1f} s)"
        )
        limits = QueryLimits(threads=args.threads, memory_mb=4096, timeout_s=600)
        prefix = "datasets/stays/v1"
        contenders: dict[str, tuple[TableSource, ScanCache]] = {
            "plain": (TableSource(plain_store, prefix), ScanCache(workdir / "cache-plain")),
            "plain-shm": (TableSource(plain_store, prefix), ScanCache(shm / "cache")),
            "enc-cipher-cache": (TableSource(encrypted, prefix), ScanCache(workdir / "cache-enc")),
            "enc-no-cache": (
                TableSource(StoreWrapper(encrypted), prefix),  # no raw access: decrypt per query
                ScanCache(workdir / "cache-none"),
            ),
        }
        if args.only:
            contenders = {k: v for k, v in contenders.items() if k in args.only.split(",")}
        queries = {
            "frequency": frequency_query("stays", ["departement", "age_group"], "person_id"),
            "magnitude": magnitude_query(
                "stays", ["departement", "age_group"], "cost", "person_id", ["mean", "sum"]
            ),
        }
        print(f"threads {args.threads}, repeats {args.repeats}, rotating order after a warm-up")
        names = list(contenders)
        header = " | ".join(f"{n}: wall s (CPU s)" for n in names)
        print(f"| query | {header} | " + " | ".join(f"{n} vs plain" for n in names[1:]) + " |")
        print("|---" * (1 + 2 * len(names) - 1) + "|")
        paired: list[str] = []
        for label, (sql, spec) in queries.items():
            expected = None

            def run(name: str, sql: str = sql, spec: object = spec) -> tuple[float, float]:
                nonlocal expected
                source, cache = contenders[name]
                time.sleep(0.5)  # the pool's replacement child finishes its imports
                t, c = time.perf_counter(), cpu_seconds()
                outcome = run_sandboxed(sql, {"stays": source}, limits, cache, pool)
                check_release(outcome.result, spec)  # type: ignore[arg-type]
                wall, cpu = time.perf_counter() - t, cpu_seconds() - c
                result = _comparable(outcome.result)
                if expected is None:
                    expected = result
                elif not result.equals(expected):
                    raise SystemExit(f"{name}: the result differs from the plaintext one")
                return wall, cpu

            for name in names:  # warm-up: copies made, caches filled
                run(name)
            times: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
            for i in range(args.repeats):
                for name in names[i % len(names) :] + names[: i % len(names)]:
                    times[name].append(run(name))
            print(f"| {label} | {_row(times)} |", flush=True)
            paired.append(f"{label}: " + _paired(times))
        for line in paired:
            print(f"paired (each round against the same round's plain run), median: {line}")
        fetch: dict[str, list[float]] = {n: [] for n in names}  # the local copies alone
        for i in range(args.repeats * 3):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                source, cache = contenders[name]
                listed = parquet_keys(source)
                t = time.perf_counter()
                cache.release(cache.fetch(source, listed, hold=True))
                fetch[name].append(time.perf_counter() - t)
        print(
            "local copies for one query (ScanCache.fetch + release, median wall ms): "
            + ", ".join(f"{n} {1000 * statistics.median(v):.1f}" for n, v in fetch.items())
        )
        print(f"load average at the end: {os.getloadavg()}")
    finally:
        pool.close()
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)


def _comparable(table: pa.Table) -> pa.Table:
    """Sorted by group, floats to 9 significant digits: DuckDB's parallel float sums differ
    in their last bits from run to run, plaintext or not (the tests compare exactly, on one
    thread)."""
    columns = []
    for name in table.column_names:
        column = table[name]
        if pa.types.is_floating(column.type):
            column = pa.array(
                [None if v is None else float(f"{v:.9g}") for v in column.to_pylist()]
            )
        columns.append(column)
    return pa.table(columns, names=table.column_names).sort_by(
        [("departement", "ascending"), ("age_group", "ascending")]
    )


def _paired(times: dict[str, list[tuple[float, float]]]) -> str:
    """Median over rounds of each contender's time over the plain run of the same round:
    less sensitive to the load drifting during the benchmark than a ratio of medians."""
    base = times["plain"] if "plain" in times else next(iter(times.values()))
    cells = []
    for name, runs in times.items():
        if runs is base:
            continue
        wall = statistics.median(r[0] / b[0] - 1 for r, b in zip(runs, base, strict=True))
        cpu = statistics.median(r[1] / b[1] - 1 for r, b in zip(runs, base, strict=True))
        cells.append(f"{name} {100 * wall:+.1f}% (CPU {100 * cpu:+.1f}%)")
    return ", ".join(cells)


def _row(times: dict[str, list[tuple[float, float]]]) -> str:
    wall = {n: statistics.median(t[0] for t in runs) for n, runs in times.items()}
    cpu = {n: statistics.median(t[1] for t in runs) for n, runs in times.items()}
    cells = [f"{wall[n]:.2f} ({cpu[n]:.2f})" for n in times]
    base = next(iter(times))

    def pct(d: dict[str, float], n: str) -> str:
        return f"{100 * (d[n] - d[base]) / d[base]:+.1f}%"

    cells += [f"{pct(wall, n)} ({pct(cpu, n)})" for n in list(times)[1:]]
    return " | ".join(cells)


if __name__ == "__main__":
    main()
