"""Researchers' query latency while a hub moves live between clouds (issue 7).

Runs the demo's story (synthetic hub, researchers querying in the background,
a live move with mirroring, backlog copy, cutover with deep verify, finish) and
prints the queries' median and p99 latency while idle and during the move,
side by side, with the failure count.

    bash bench/run.sh live [--persons 20000]             # Azurite -> Ceph RGW
    .venv/bin/python bench/live_latency.py --local       # two local folders, no server
"""

from __future__ import annotations

import argparse
import os
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--archive", type=int, default=2000, help="64 KiB files in the backlog")
    parser.add_argument("--local", action="store_true", help="two local folders, no servers")
    args = parser.parse_args()

    from passerelle.demo import run_live_demo

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
    )
    r = story.researchers
    lat = r.summary()
    print(f"live move {story.source_url} -> {story.destination_url}, {args.persons:,} persons")
    print(
        f"moved {story.objects_moved:,} objects ({story.bytes_moved / 1e6:.1f} MB) in "
        f"{story.move_seconds:.1f} s; whole run {time.perf_counter() - started:.1f} s"
    )
    print(
        f"queries {r.queries} ({len(r.idle_latencies)} idle, {len(r.move_latencies)} during "
        f"the move), failures {len(r.failures)}, results changed {len(r.different)}"
    )
    print("| latency | idle | during the move | ratio |")
    print("|---|---|---|---|")
    for stat in ("median", "p99"):
        idle, move = lat[f"idle_{stat}_ms"], lat[f"move_{stat}_ms"]
        print(f"| {stat} | {idle:.0f} ms | {move:.0f} ms | {move / idle if idle else 0:.2f}x |")


if __name__ == "__main__":
    main()
