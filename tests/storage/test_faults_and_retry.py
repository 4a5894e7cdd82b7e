from __future__ import annotations

import random

import pytest

from passerelle.errors import (
    ObjectNotFoundError,
    ServiceError,
    ThrottledError,
    TransientError,
    TruncatedReadError,
    UsageError,
)
from passerelle.storage import (
    FaultInjectingStore,
    FaultPlan,
    RetryPolicy,
    backoff_delay,
    call_with_retries,
    open_store,
)


def _store(name: str) -> FaultInjectingStore:
    return FaultInjectingStore(open_store(f"memory://{name}"), FaultPlan(seed=1))


def test_no_faults_by_default() -> None:
    store = _store("faults-none")
    for i in range(50):
        store.put(f"k{i}", b"v")
    assert sum(store.injected.values()) == 0


def test_same_seed_same_faults() -> None:
    def run(seed: int) -> list[str]:
        inner = open_store(f"memory://faults-seed-{seed}-{random.random()}")
        store = FaultInjectingStore(inner, FaultPlan(seed=seed, transient=0.3, throttle=0.2))
        outcomes = []
        for i in range(100):
            try:
                store.put(f"k{i}", b"v")
                outcomes.append("ok")
            except TransientError as exc:
                outcomes.append(type(exc).__name__)
        return outcomes

    assert run(42) == run(42)
    assert run(42) != run(43)
    assert {"ok", "ServiceError", "ThrottledError"} <= set(run(42))


def test_fault_rates_are_about_right() -> None:
    inner = open_store("memory://faults-rate")
    store = FaultInjectingStore(inner, FaultPlan(seed=5, transient=0.1))
    failures = 0
    for i in range(2000):
        try:
            store.put(f"k{i}", b"v")
        except ServiceError:
            failures += 1
    assert 140 < failures < 260


def test_truncated_reads_are_detected() -> None:
    inner = open_store("memory://faults-trunc")
    inner.put("obj", b"x" * 10_000)
    store = FaultInjectingStore(inner, FaultPlan(seed=3, truncate=1.0))
    with pytest.raises(TruncatedReadError, match=r"returned .* of 10000 bytes"):
        store.get("obj").read()


def test_faults_limited_to_chosen_operations() -> None:
    inner = open_store("memory://faults-ops")
    inner.put("obj", b"abc")
    store = FaultInjectingStore(
        inner, FaultPlan(seed=1, throttle=1.0, operations=frozenset({"put"}))
    )
    assert store.get("obj").read() == b"abc"
    with pytest.raises(ThrottledError):
        store.put("obj", b"new")


def test_terminal_errors_pass_through_the_wrapper() -> None:
    store = _store("faults-terminal")
    with pytest.raises(ObjectNotFoundError):
        store.head("nothing")


def test_bad_plan_is_refused() -> None:
    with pytest.raises(UsageError, match="between 0 and 1"):
        FaultPlan(transient=1.5)
    with pytest.raises(UsageError, match="Unknown operation"):
        FaultPlan(operations=frozenset({"rename"}))


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(base_s=0.1, cap_s=2.0)
    rng = random.Random(0)
    for attempt in range(1, 12):
        delay = backoff_delay(policy, attempt, rng)
        assert 0 <= delay <= min(2.0, 0.1 * 2 ** (attempt - 1))
    assert backoff_delay(policy, 1, random.Random(1), throttled=True) <= 0.4


def test_retries_until_success_on_a_chaotic_store() -> None:
    inner = open_store("memory://faults-retry")
    store = FaultInjectingStore(inner, FaultPlan(seed=9, transient=0.3, throttle=0.1))
    sleeps: list[float] = []
    for i in range(200):
        call_with_retries(
            lambda i=i: store.put(f"k{i}", b"v"),  # type: ignore[misc]
            RetryPolicy(max_attempts=20),
            sleep=sleeps.append,
        )
    assert len(list(inner.list())) == 200
    assert sleeps, "faults should have caused retries"


def test_retries_give_up_and_reraise() -> None:
    calls = []

    def always() -> None:
        calls.append(1)
        raise ThrottledError("slow down")

    with pytest.raises(ThrottledError):
        call_with_retries(always, RetryPolicy(max_attempts=4), sleep=lambda s: None)
    assert len(calls) == 4


def test_terminal_errors_are_not_retried() -> None:
    calls = []

    def missing() -> None:
        calls.append(1)
        raise ObjectNotFoundError("gone")

    with pytest.raises(ObjectNotFoundError):
        call_with_retries(missing, sleep=lambda s: None)
    assert calls == [1]
