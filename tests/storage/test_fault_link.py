"""The fault plan's simulated link: parsing, and the cap measured on a fake clock."""

from __future__ import annotations

import os
import pickle

import pytest

from passerelle.errors import UsageError
from passerelle.migration.limits import TokenBucket
from passerelle.storage import FaultInjectingStore, FaultPlan, open_store, parse_fault_plan
from passerelle.storage.faults import process_link


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_link_is_parsed_as_bytes_per_second() -> None:
    assert parse_fault_plan("link=8MB").link == 8_000_000
    assert parse_fault_plan("link=80Mbit/s,latency=1,latency_s=0.02").link == 10_000_000
    assert parse_fault_plan("seed=1").link is None


@pytest.mark.parametrize("spec", ["link=", "link=fast", "link=-5MB", "link=0"])
def test_a_bad_link_is_one_sentence(spec: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_fault_plan(spec)
    message = str(caught.value)
    assert message.startswith(f"Cannot read {spec!r} in the fault plan")
    assert "\n" not in message and "link=8MB/s" in message


def test_a_plan_with_a_link_survives_pickling() -> None:
    """StoreSpec ships the plan to Dask workers by pickle."""
    plan = parse_fault_plan("latency=1,latency_s=0.02,link=8MB")
    assert pickle.loads(pickle.dumps(plan)) == plan


def test_the_link_caps_the_bytes_read_per_second() -> None:
    clock = FakeClock()
    link = TokenBucket(1_000_000, 50_000, clock=clock, sleep=clock.sleep)
    plan = FaultPlan(link=1_000_000)
    src = FaultInjectingStore(open_store("memory://link-src"), plan, link=link)
    dst = FaultInjectingStore(open_store("memory://link-dst"), plan, link=link)
    payload = os.urandom(250_000)
    for i in range(8):
        src.inner.put(f"k{i}", payload)
        dst.inner.put(f"k{i}", payload)
    received = 0
    for store in (src, dst):  # both stores of one process share its link
        for i in range(8):
            received += sum(len(c) for c in store.get(f"k{i}"))
    assert received == 4_000_000
    # 4 MB at 1 MB/s, less the 50 kB burst it starts with.
    assert clock.now == pytest.approx((4_000_000 - 50_000) / 1_000_000)


def test_writes_and_plans_without_a_link_are_not_paced() -> None:
    clock = FakeClock()
    link = TokenBucket(1_000, 1_000, clock=clock, sleep=clock.sleep)
    store = FaultInjectingStore(open_store("memory://link-put"), FaultPlan(), link=link)
    store.put("k", os.urandom(100_000))
    assert clock.now == 0.0
    assert FaultInjectingStore(open_store("memory://link-none"), FaultPlan()).link is None


def test_each_process_has_one_link_per_rate() -> None:
    first = FaultInjectingStore(open_store("memory://link-a"), FaultPlan(link=5e6))
    second = FaultInjectingStore(open_store("memory://link-b"), FaultPlan(link=5e6))
    assert first.link is second.link is process_link(5e6)
    assert process_link(6e6) is not first.link
