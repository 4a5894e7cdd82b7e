"""Researchers' query latency while a hub moves live between clouds (issue 7).

Runs the demo's story (synthetic hub, researchers querying in the background,
a live move with mirroring, backlog copy, cutover with deep verify, finish) and
prints the queries' median and p99 latency while idle and during the move,
side by side, with the failure count.

    bash bench/run.sh live --runs 5 --targets 2x,off     # Azurite -> Ceph RGW
    .venv/bin/python bench/live_latency.py --local       # two local folders, no server

Each run is the whole story with one latency target for the move (``2x``: the
move yields to research; ``off``: full speed throughout); targets are rotated.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path


def _server_config(folder: Path) -> tuple[str, str]:
    """Write a storage config for the servers bench/run.sh started; return two fresh URLs."""
    from passerelle.storage import open_store

    env = os.environ
    text = f"""
[remotes.azurite]
type = "az"
endpoint = "{env["PASSERELLE_TEST_AZURE_ENDPOINT"]}"
account = "{env["PASSERELLE_TEST_AZURE_ACCOUNT"]}"
account_key = "{env["PASSERELLE_TEST_AZURE_KEY"]}"
provider = "azure"

[remotes.ceph]
type = "s3"
endpoint = "{env["PASSERELLE_TEST_CEPH_ENDPOINT"]}"
region = "{env.get("PASSERELLE_TEST_CEPH_REGION", "default")}"
access_key_id = "{env["PASSERELLE_TEST_CEPH_ACCESS_KEY"]}"
secret_access_key = "{env["PASSERELLE_TEST_CEPH_SECRET_KEY"]}"
provider = "ceph"
"""
    path = folder / "config.toml"
    path.write_text(text)
    os.environ["PASSERELLE_CONFIG"] = str(path)
    tag = uuid.uuid4().hex[:8]
    source, dest = f"az://azurite@live-a-{tag}", f"s3://ceph@live-b-{tag}"
    for url in (source, dest):
        open_store(url).create_container()
    return source, dest


def _empty(url: str) -> None:
    """Empty a container after its run: Azurite's cost per request grows with every blob
    it holds (and Ceph's memstore keeps every byte in RAM), so a run left behind would
    slow every later run's move and queries."""
    from concurrent.futures import ThreadPoolExecutor

    from passerelle.storage import open_store

    store = open_store(url)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda info: store.delete(info.key), store.list()))


def _one_run(args: argparse.Namespace, target: str) -> dict[str, object]:
    from passerelle.demo import run_live_demo
    from passerelle.migration.pacing import parse_latency_target

    work = Path(tempfile.mkdtemp(prefix="passerelle-live-bench-"))
    source = dest = None
    if not args.local:
        source, dest = _server_config(work)
    started = time.perf_counter()
    story = run_live_demo(
        work / "demo",
        source_url=source,
        destination_url=dest,
        persons=args.persons,
        archive_objects=args.archive,
        idle_seconds=args.idle_seconds,
        latency_target=parse_latency_target(target),
    )
    if not args.local:
        for url in (source, dest):
            _empty(str(url))
    r = story.researchers
    lat = r.summary()
    print(
        f"[{target}] moved {story.objects_moved:,} objects ({story.bytes_moved / 1e6:.1f} MB) "
        f"in {story.move_seconds:.1f} s; whole run {time.perf_counter() - started:.1f} s; "
        f"queries {r.queries} ({len(r.idle_latencies)} idle, {len(r.move_latencies)} during "
        f"the move), failures {len(r.failures)}, results changed {len(r.different)}",
        flush=True,
    )
    for phase, values in r.by_phase.items():
        print(
            f"    {phase}: {len(values)} queries, median {1000 * statistics.median(values):.0f}"
            f" ms, max {1000 * max(values):.0f} ms",
            flush=True,
        )
    return {
        **lat,
        "move_s": story.move_seconds,
        "failures": len(r.failures),
        "different": len(r.different),
        "ok": story.ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--archive", type=int, default=2000, help="64 KiB files in the backlog")
    parser.add_argument("--local", action="store_true", help="two local folders, no servers")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="idle baseline length")
    parser.add_argument(
        "--targets", default="2x,off", help="latency targets compared, in rotated order"
    )
    parser.add_argument("--runs", type=int, default=1, help="runs of each target")
    args = parser.parse_args()

    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    results: dict[str, list[dict[str, object]]] = {t: [] for t in targets}
    for i in range(args.runs):
        for target in targets[i % len(targets) :] + targets[: i % len(targets)]:
            results[target].append(_one_run(args, target))

    def med(target: str, name: str) -> float:
        return statistics.median(float(str(r[name])) for r in results[target])

    print(f"\nmedians of {args.runs} run(s) each, {args.persons:,} persons, {args.archive} files")
    print(
        "| latency target | idle median | move median | ratio | idle p99 | move p99 | ratio "
        "| move s | failures |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for t in targets:
        im, mm = med(t, "idle_median_ms"), med(t, "move_median_ms")
        ip, mp = med(t, "idle_p99_ms"), med(t, "move_p99_ms")
        fails = sum(int(str(r["failures"])) + int(str(r["different"])) for r in results[t])
        print(
            f"| {t} | {im:.0f} ms | {mm:.0f} ms | {mm / im if im else 0:.2f}x | {ip:.0f} ms "
            f"| {mp:.0f} ms | {mp / ip if ip else 0:.2f}x | {med(t, 'move_s'):.1f} | {fails} |"
        )


if __name__ == "__main__":
    main()
