"""Inventory of a container split by prefix vs one serial listing (issue 13 §1).

Fills a fresh bucket on a real server with N objects under P top-level prefixes
(once), then times ``parallel_list`` at several thread counts against the serial
``Store.list`` and checks they return the same entries.  Run under the shared
bench lock, with the test servers' settings loaded:

    set -a; source /tmp/pserv/all.env; set +a
    flock /tmp/bench.lock python bench/plan_parallel_listing.py --backend ceph --objects 20000
"""

from __future__ import annotations

import argparse
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from passerelle.migration.parallel_listing import parallel_list
from passerelle.storage import open_store

REMOTE = {"ceph": "s3://ceph@", "azurite": "az://azurite@", "seaweedfs": "s3://seaweed@"}


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--backend", default="ceph", choices=sorted(REMOTE))
    args.add_argument("--objects", type=int, default=20_000)
    args.add_argument("--prefixes", type=int, default=16)
    args.add_argument("--threads", default="2,4,8,16")
    args.add_argument("--repeat", type=int, default=3)
    opts = args.parse_args()
    url = f"{REMOTE[opts.backend]}plist-bench-{uuid.uuid4().hex[:8]}"
    store = open_store(url)
    store.create_container()
    started = time.perf_counter()
    keys = [f"p{i % opts.prefixes:02}/d{i % 7}/obj-{i:07}" for i in range(opts.objects)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: store.put(k, b"x"), keys))
    print(f"{url}: {opts.objects} objects under {opts.prefixes} prefixes, "
          f"filled in {time.perf_counter() - started:.1f} s")  # fmt: skip
    reference = sorted((o.key, o.size, o.etag) for o in store.list(""))
    assert len(reference) == opts.objects

    def timed(threads: int) -> float:
        best = float("inf")
        for _ in range(opts.repeat):
            t = time.perf_counter()
            infos = parallel_list(store, threads=threads) if threads > 1 else None
            got = [(o.key, o.size, o.etag) for o in (infos or store.list(""))]
            best = min(best, time.perf_counter() - t)
            assert sorted(got) == reference
        return best

    serial = timed(1)
    print(f"serial: {serial:.2f} s ({opts.objects / serial:,.0f} objects/s)")
    for threads in (int(t) for t in opts.threads.split(",")):
        s = timed(threads)
        print(f"threads={threads}: {s:.2f} s ({opts.objects / s:,.0f} objects/s), "
              f"x{serial / s:.2f} vs serial")  # fmt: skip


if __name__ == "__main__":
    main()
