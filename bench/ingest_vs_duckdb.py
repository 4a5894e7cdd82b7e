"""Ingest throughput vs DuckDB's plain CSV-to-Parquet conversion of the same file.

Generates a synthetic PMSI-style stays CSV (``--rows`` rows, default 10 million),
then alternates, ``--runs`` times each: passerelle's ``ingest`` (validation,
HMAC pseudonyms, generalization, quarantine, Parquet through the storage layer
to a ``file://`` folder) and DuckDB's
``COPY (SELECT * FROM read_csv(...)) TO '...parquet'``.  Each run is a fresh
child process so that its peak RSS is its own.  Prints rows/s, the ratio
(target >= 0.5) and peak RSS (target < 1 GB).  Run: ``bash bench/run.sh ingest``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

PASSERELLE = (
    """
import sys
from passerelle.ingest import ingest, shipped_schema
r = ingest("file://" + sys.argv[1], schema=shipped_schema("pmsi_stays"),
           pseudonym_key=b"benchmark-key-0123456789abcdef", output_url="file://" + sys.argv[2])
print(r.rows_in, r.rows_accepted, r.rows_quarantined, len(r.files))
"""
    + "\n"
    + "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
)
DUCKDB = (
    """
import sys, duckdb
src, out = sys.argv[1], sys.argv[2] + "/out.parquet"
duckdb.sql("SET enable_progress_bar = false")
duckdb.sql(f"COPY (SELECT * FROM read_csv('{src}')) TO '{out}' (FORMAT parquet)")
print(duckdb.sql(f"SELECT count(*) FROM '{out}'").fetchall()[0][0])
"""
    + "\n"
    + "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
)


def run_child(code: str, csv_path: Path, out: Path) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout) of one child process.

    The peak is the child's own VmHWM (printed last by the child): ``wait4``'s
    ``ru_maxrss`` would also count the forked copy of this (larger) process.
    """
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(csv_path), str(out)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    stdout = proc.stdout.read() if proc.stdout else ""
    _pid, status, _usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"child failed ({status}): {stdout}")
    *lines, hwm_kib = stdout.strip().splitlines()
    return wall, int(hwm_kib) / 1024, " ".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated CSV")
    args = parser.parse_args()
    from passerelle.synth import synthesize

    work = args.workdir or Path(tempfile.mkdtemp(prefix="passerelle-ingest-bench-"))
    src = work / "src"
    csv_path = src / "stays.csv"
    if not csv_path.exists():
        t = time.perf_counter()
        synthesize(src, persons=args.rows // 2, seed=11, defect_rate=0.001, sources=("stays",))
        print(f"generated {csv_path} in {time.perf_counter() - t:.0f} s", flush=True)
    rows = sum(1 for _ in csv_path.open("rb")) - 1
    size = csv_path.stat().st_size
    print(f"{rows:,} rows, {size / 2**20:.0f} MiB, {os.cpu_count()} cores", flush=True)
    results: dict[str, list[tuple[float, float]]] = {"passerelle": [], "duckdb": []}
    for i in range(args.runs):
        for name, code in (("duckdb", DUCKDB), ("passerelle", PASSERELLE)):
            wall, rss, out = run_child(code, csv_path, work / f"out-{name}")
            results[name].append((wall, rss))
            print(
                f"run {i + 1} {name:<10} {wall:7.1f} s  {rows / wall / 1e6:5.2f} M rows/s  "
                f"peak RSS {rss:6.0f} MiB  ({out})",
                flush=True,
            )
    best = {k: min(w for w, _ in v) for k, v in results.items()}
    ratio = best["duckdb"] / best["passerelle"]
    peak = max(r for _, r in results["passerelle"])
    print(
        f"best: passerelle {best['passerelle']:.1f} s, duckdb {best['duckdb']:.1f} s; "
        f"throughput ratio {ratio:.2f}x DuckDB (target >= 0.5); "
        f"passerelle peak RSS {peak:.0f} MiB (target < 1024)"
    )
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": rows,
        "bytes": size,
        "cores": os.cpu_count(),
        "runs": results,
        "ratio": ratio,
        "passerelle_peak_rss_mib": peak,
    }
    out = ROOT / "bench" / "results" / f"ingest-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"results in {out.relative_to(ROOT)}")
    if not args.keep and args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
