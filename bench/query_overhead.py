"""Overhead of the research sandbox and the disclosure check over a bare DuckDB query.

A 10-million-row stays dataset is written as Parquet through the storage layer
into a ``file://`` store; the same grouped aggregate SQL then runs, in rotating
order after a warm-up, (a) in a bare DuckDB connection over ``read_parquet`` of
the same files, in this process, and (b) through :func:`run_sandboxed` (SQL
guard, local copies of the granted files, a child process with OS limits and a
locked DuckDB, the result back as Arrow IPC) followed by :func:`check_release`:
``copy`` (a fresh child, files copied per query), ``cached`` (a fresh child, the
hub's scan cache), ``pooled`` (the scan cache and a child started ahead, what
the hub runs).  Bare DuckDB and the child get the same thread count.  CPU is
this process's plus its reaped children's.  Target: at most +10% wall time.
Run: ``bash bench/run.sh query [--rows N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import io
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import duckdb  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from passerelle.research import QueryLimits, ScanCache, TableSource, run_sandboxed  # noqa: E402
from passerelle.research.child import ChildPool  # noqa: E402
from passerelle.research.disclosure import (  # noqa: E402
    check_release,
    frequency_query,
    magnitude_query,
)
from passerelle.storage import Store, open_store  # noqa: E402

FILES = 8


def write_dataset(store: Store, rows: int) -> int:
    """Synthetic stays (3 million persons, 96 départements, 5 age groups) as Parquet."""
    per_file = -(-rows // FILES)
    con = duckdb.connect()
    total = 0
    for part in range(FILES):
        lo, hi = part * per_file, min(rows, (part + 1) * per_file)
        if lo >= hi:
            break
        table = con.sql(
            f"""SELECT 'P' || lpad(((i * 7919) % 3000000)::VARCHAR, 8, '0') AS person_id,
                   lpad(((i * 31) % 96 + 1)::VARCHAR, 2, '0') AS departement,
                   ((i * 17) % 5) * 20 AS age_group,
                   round(((i * 13) % 100000) / 10.0, 2) AS cost,
                   (i % 30)::INTEGER AS los_days
            FROM range({lo}, {hi}) t(i)"""
        ).to_arrow_table()
        buffer = io.BytesIO()
        pq.write_table(table, buffer, row_group_size=256 * 1024, compression="zstd")
        total += store.put(f"datasets/stays/v1/part-{part:03d}.parquet", buffer.getvalue()).size
    con.close()
    return total


def cpu_seconds() -> float:
    """User + system CPU of this process and of its reaped children (the sandbox's)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bare(sql: str, folder: Path, threads: int) -> tuple[float, float]:
    started, cpu = time.perf_counter(), cpu_seconds()
    con = duckdb.connect(":memory:", config={"threads": threads})
    con.execute(f"CREATE VIEW stays AS SELECT * FROM read_parquet('{folder}/*.parquet')")
    con.sql(sql).to_arrow_table()
    con.close()
    return time.perf_counter() - started, cpu_seconds() - cpu


def sandboxed(
    sql: str,
    spec: object,
    source: TableSource,
    limits: QueryLimits,
    cache: ScanCache | None = None,
    pool: ChildPool | None = None,
) -> tuple[float, float]:
    started, cpu = time.perf_counter(), cpu_seconds()
    outcome = run_sandboxed(sql, {"stays": source}, limits, cache, pool)
    check_release(outcome.result, spec)  # type: ignore[arg-type]
    return time.perf_counter() - started, cpu_seconds() - cpu


def row(times: dict[str, list[tuple[float, float]]]) -> str:
    """One Markdown row: median wall (and CPU) seconds per runner, overheads over bare."""
    wall = {name: statistics.median(t[0] for t in runs) for name, runs in times.items()}
    cpu = {name: statistics.median(t[1] for t in runs) for name, runs in times.items()}
    cells = [f"{wall['bare']:.2f} (cpu {cpu['bare']:.2f})"]
    for name in ("copy", "cached", "pooled"):
        cells.append(f"{wall[name]:.2f} (cpu {cpu[name]:.2f})")
        cells.append(
            f"{100 * (wall[name] - wall['bare']) / wall['bare']:+.1f}% "
            f"(cpu {100 * (cpu[name] - cpu['bare']) / cpu['bare']:+.1f}%)"
        )
    return " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="passerelle-query-bench-"))
    try:
        store = open_store(f"file://{workdir}")
        started = time.perf_counter()
        size = write_dataset(store, args.rows)
        print(
            f"dataset: {args.rows:,} rows, {FILES} Parquet files, {size / 1e6:.0f} MB, "
            f"written in {time.perf_counter() - started:.1f} s"
        )
        source = TableSource(store, "datasets/stays/v1")
        limits = QueryLimits(threads=args.threads, memory_mb=4096, timeout_s=600)
        queries = {
            "frequency (count, distinct persons) by departement x age": frequency_query(
                "stays", ["departement", "age_group"], "person_id"
            ),
            "magnitude (mean cost + dominance evidence) by departement x age": magnitude_query(
                "stays", ["departement", "age_group"], "cost", "person_id", ["mean", "sum"]
            ),
        }
        folder = workdir / "datasets" / "stays" / "v1"
        cache = ScanCache(workdir / "scan-cache")  # what a hub keeps between queries
        pool = ChildPool(1)  # what a hub keeps too: a child started ahead
        runners = {
            "bare": lambda sql, spec: bare(sql, folder, args.threads),
            "copy": lambda sql, spec: sandboxed(sql, spec, source, limits),
            "cached": lambda sql, spec: sandboxed(sql, spec, source, limits, cache),
            "pooled": lambda sql, spec: sandboxed(sql, spec, source, limits, cache, pool),
        }
        print(f"threads: {args.threads}, repeats: {args.repeats} (rotating order, after a warm-up)")
        print(
            "| query | bare DuckDB: median wall s (CPU s) | child, copy per query "
            "| overhead wall (CPU) | child, scan cache | overhead wall (CPU) "
            "| warm child + scan cache (the hub's path) | overhead wall (CPU) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for label, (sql, spec) in queries.items():
            for run in runners.values():
                run(sql, spec)
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in runners}
            names = list(runners)
            for i in range(args.repeats):
                for name in names[i % len(names) :] + names[: i % len(names)]:
                    time.sleep(0.5)  # the pool's replacement child finishes its imports
                    times[name].append(runners[name](sql, spec))
            print(f"| {label} | {row(times)} |", flush=True)
        fixed = {name: [] for name in ("bare", "copy", "pooled")}  # the fixed cost alone
        tiny = "SELECT count(*) AS n FROM stays WHERE los_days = 99"
        for _ in range(args.repeats):
            time.sleep(0.5)
            fixed["bare"].append(bare(tiny, folder, args.threads)[0])
            time.sleep(0.5)
            fixed["copy"].append(
                _timed(lambda: run_sandboxed(tiny, {"stays": source}, limits, cache))
            )
            time.sleep(0.5)
            fixed["pooled"].append(
                _timed(lambda: run_sandboxed(tiny, {"stays": source}, limits, cache, pool))
            )
        print(
            "fixed cost of a query that reads almost nothing (median wall s): "
            + ", ".join(f"{k} {statistics.median(v):.3f}" for k, v in fixed.items())
        )
        pool.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _timed(call: object) -> float:
    started = time.perf_counter()
    call()  # type: ignore[operator]
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
