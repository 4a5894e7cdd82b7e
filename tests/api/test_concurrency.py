"""Concurrent requests serialize on the audit chain: no server error, no fork, nothing lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.api.conftest import Api
from tests.api.helpers import org_body


def test_concurrent_writers_and_readers_keep_one_chain(api: Api) -> None:
    def write(i: int) -> int:
        return int(api.post("/organizations", "stella", json=org_body(f"ORG-{i}")).status_code)

    def read(i: int) -> int:
        who = ("rita", "simon", "aude")[i % 3]
        path = "/audit/events" if who == "aude" else "/organizations"
        return int(api.get(path, who, params={"limit": 5}).status_code)

    with ThreadPoolExecutor(max_workers=8) as pool:
        writes = pool.map(write, range(24))
        reads = pool.map(read, range(24))
        statuses = list(writes), list(reads)
    assert statuses == ([201] * 24, [200] * 24)
    assert api.ok("GET", "/organizations", "rita")["total"] == 24
    report = api.ok("GET", "/audit/verify", "aude")
    assert report["ok"] is True and report["events"] == report["head_seq"]
    created = api.ok("GET", "/audit/events", "aude", params={"actor": "stella", "limit": 1000})[
        "items"
    ]
    assert sorted(e["target"] for e in created if e["action"] == "org.create") == sorted(
        f"org:ORG-{i}" for i in range(24)
    )
