"""WAN scaling by simulation (issue 13 §4): 1, 2, 4, 8 Dask workers over simulated links.

Every request waits 20 ms (Azure West Europe -> Paris) and every worker process
reads through its own link of ``--link`` bytes/s (the fault plan's ``link=``), so
N workers are N hosts.  Source and destination are file:// folders every worker
process shares (on one machine, the only stores whose own CPU cost stays out of
the two cores the workers need).  Weak scaling: a run with N workers moves N
shards of ``--objects`` objects, so each run lasts about as long and the 1-worker
run is not 8x the 8-worker one.  For each N, rotated, ``--runs`` times: plan,
then run on a LocalCluster started beforehand (its start-up is not timed), SHA-256
proof on as always.  Prints objects/s, MB/s, efficiency = rate_N / (N * rate_1),
CPU used, and the ETA of 1 PB at 10 Gbit/s per host from the provider profiles.
Not a test: the numbers go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KiB = 1024


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine so far (/proc/stat)."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def proc_cpu(pid: int) -> float:
    try:
        parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (float(parts[11]) + float(parts[12])) / os.sysconf("SC_CLK_TCK")


def populate(root: Path, shards: int, objects: int, size: int) -> None:
    blob = os.urandom(size)
    for shard in range(shards):
        folder = root / f"w{shard}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(objects):
            # Distinct bytes per object, cheaply: a different prefix on shared random bytes.
            (folder / f"{i:05d}.bin").write_bytes(f"{shard}/{i}".encode().ljust(32) + blob[32:])


def one_run(
    workers: int, args: argparse.Namespace, src: Path, tmp: Path, run: int
) -> dict[str, float]:
    import distributed

    from passerelle.migration import PlanOptions, RunOptions, plan_migration, run_migration
    from passerelle.storage import parse_fault_plan

    dst = tmp / f"dst-{workers}-{run}"
    journal = tmp / f"j-{workers}-{run}.db"
    include = tuple(f"w{i}/*" for i in range(workers))
    plan_migration(f"file://{src}", f"file://{dst}", journal, PlanOptions(include=include))
    faults = parse_fault_plan(f"latency=1,latency_s={args.latency}-{args.latency},link={args.link}")
    cluster = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=args.threads,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    try:
        with distributed.Client(cluster) as client:
            pids = list(client.run(os.getpid).values())
            before_busy, before_total = machine_busy()
            before_workers = sum(proc_cpu(p) for p in pids)
            before_self = sum(os.times()[:2])
            started = time.perf_counter()
            summary = run_migration(
                journal,
                RunOptions(
                    concurrency=workers * args.threads,
                    faults=faults,
                    cluster=cluster.scheduler_address,
                ),
            )
            seconds = time.perf_counter() - started
            workers_cpu = sum(proc_cpu(p) for p in pids) - before_workers
            self_cpu = sum(os.times()[:2]) - before_self
            after_busy, after_total = machine_busy()
    finally:
        cluster.close()
    if not summary.complete or summary.copied != workers * args.objects:
        raise SystemExit(f"run incomplete: {summary}")
    shutil.rmtree(dst, ignore_errors=True)
    journal.unlink(missing_ok=True)
    ncpu = os.cpu_count() or 1
    return {
        "workers": workers,
        "seconds": seconds,
        "objects": summary.copied,
        "bytes": summary.bytes,
        "workers_cpu_s": workers_cpu,
        "coordinator_cpu_s": self_cpu,
        "machine_busy": (after_busy - before_busy) / max(1.0, after_total - before_total),
        "cpus": ncpu,
    }


def eta_table(efficiency: dict[int, float], host_gbit: float, petabytes: float) -> list[str]:
    from passerelle.providers import load_profiles

    total = petabytes * 1e15
    per_host = host_gbit * 1e9 / 8
    eight = efficiency[max(efficiency)]
    lines = [f"ETA for {petabytes:g} PB at {host_gbit:g} Gbit/s per host (x measured efficiency):"]
    for hosts in (1, 2, 4, 8, 50):
        eff = efficiency.get(hosts, eight)
        days = total / (per_host * hosts * eff) / 86400
        note = "" if hosts in efficiency else f"  (assumes the {max(efficiency)}-worker efficiency)"
        lines.append(f"  {hosts:3d} hosts  efficiency {eff:4.2f}  {days:7.1f} days{note}")
    lines.append(f"Egress for {petabytes:g} PB, list prices from the provider profiles:")
    for name, profile in sorted(load_profiles().items()):
        p = profile.prices
        gb = max(0.0, total / 1e9 - p.egress_free_gb_per_month)
        lines.append(
            f"  {name:<10} {p.egress_per_gb:6.3f} {p.currency}/GB  "
            f"{gb * p.egress_per_gb:12,.0f} {p.currency}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--objects", type=int, default=80, help="objects per worker's shard")
    parser.add_argument("--size-kib", type=int, default=512)
    parser.add_argument("--link", default="2MB", help="per worker process, bytes/s")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request")
    parser.add_argument("--threads", type=int, default=8, help="copies in flight per worker")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="passerelle-wan-"))
    try:
        src = tmp / "src"
        populate(src, max(counts), args.objects, args.size_kib * KiB)
        log(f"source: {max(counts)} shards x {args.objects} x {args.size_kib} KiB in {src}")
        results: dict[int, list[dict[str, float]]] = {n: [] for n in counts}
        for run in range(args.runs):
            order = counts[run % len(counts) :] + counts[: run % len(counts)]  # rotated
            for n in order:
                r = one_run(n, args, src, tmp, run)
                results[n].append(r)
                log(
                    f"  run {run + 1} workers={n}: {r['seconds']:6.2f} s  "
                    f"{r['bytes'] / r['seconds'] / 1e6:6.2f} MB/s  machine busy "
                    f"{r['machine_busy'] * 100:3.0f}%  workers CPU {r['workers_cpu_s']:.1f} s"
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    from passerelle.storage import parse_fault_plan

    link = parse_fault_plan(f"link={args.link}").link or 0.0
    rate = {
        n: statistics.median(r["bytes"] / r["seconds"] for r in rs) for n, rs in results.items()
    }
    objs = {
        n: statistics.median(r["objects"] / r["seconds"] for r in rs) for n, rs in results.items()
    }
    base = rate[counts[0]] / counts[0]
    efficiency = {n: rate[n] / (n * base) for n in counts}
    print(
        f"link {link / 1e6:g} MB/s per worker, {args.latency * 1000:g} ms per request, "
        f"{args.objects} x {args.size_kib} KiB per worker, {args.threads} copies in flight "
        f"per worker, median of {args.runs} rotated runs"
    )
    print(
        "workers  seconds  objects/s   MB/s  of links  efficiency  machine busy  "
        "CPU s (workers+coord)"
    )
    for n in counts:
        rs = results[n]
        secs = statistics.median(r["seconds"] for r in rs)
        busy = statistics.median(r["machine_busy"] for r in rs)
        cpu = statistics.median(r["workers_cpu_s"] + r["coordinator_cpu_s"] for r in rs)
        print(
            f"{n:7d}  {secs:7.2f}  {objs[n]:9.1f}  {rate[n] / 1e6:5.2f}  "
            f"{rate[n] / (n * link) * 100:7.0f}%  {efficiency[n]:10.2f}  "
            f"{busy * 100:11.0f}%  {cpu:6.1f}"
        )
    print("\n".join(eta_table(efficiency, 10.0, 1.0)))
    if args.json:
        args.json.write_text(json.dumps({"results": results, "efficiency": efficiency}, indent=1))
    os._exit(0)  # obstore's async runtime may abort at interpreter exit


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    # Dask's worker processes import passerelle too: from this checkout's src.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])
    )
    main()
