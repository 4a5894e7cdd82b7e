"""A store wrapper that injects faults on purpose, for chaos tests and rehearsals.

Seeded, so a failing run can be replayed: with the same seed and the same
sequence of calls, the same faults happen.  Wrap any store::

    chaotic = FaultInjectingStore(open_store("s3://bucket"), FaultPlan(seed=7, transient=0.1))
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from passerelle.errors import ServiceError, ThrottledError, TruncatedReadError, UsageError
from passerelle.storage.base import ObjectReader, Store, StoreWrapper

__all__ = ["FaultInjectingStore", "FaultPlan", "parse_fault_plan"]

ALL_OPERATIONS = frozenset({"list", "head", "get", "put", "delete", "copy"})


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Probabilities (0..1) of each fault per call, and which operations they hit."""

    seed: int = 0
    transient: float = 0.0
    throttle: float = 0.0
    latency: float = 0.0
    latency_s: tuple[float, float] = (0.001, 0.02)
    truncate: float = 0.0
    operations: frozenset[str] = ALL_OPERATIONS

    def __post_init__(self) -> None:
        for name in ("transient", "throttle", "latency", "truncate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise UsageError(f"Fault probability {name}={value} must be between 0 and 1.")
        unknown = set(self.operations) - ALL_OPERATIONS
        if unknown:
            raise UsageError(f"Unknown operation {sorted(unknown)[0]!r} in the fault plan.")


def parse_fault_plan(spec: str) -> FaultPlan:
    """``"seed=7,transient=0.1,latency=0.5,latency_s=0.01-0.2,ops=get+put"`` -> FaultPlan."""
    values: dict[str, object] = {}
    for item in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, raw = item.partition("=")
        name = name.strip()
        try:
            if not sep:
                raise ValueError
            if name == "seed":
                values["seed"] = int(raw)
            elif name in ("transient", "throttle", "latency", "truncate"):
                values[name] = float(raw)
            elif name == "latency_s":
                lo, _, hi = raw.partition("-")
                values["latency_s"] = (float(lo), float(hi or lo))
            elif name == "ops":
                values["operations"] = frozenset(raw.split("+"))
            else:
                raise KeyError(name)
        except (ValueError, KeyError):
            raise UsageError(
                f"Cannot read {item!r} in the fault plan; use e.g. "
                "seed=7,transient=0.1,throttle=0.05,latency=0.5,latency_s=0.01-0.2,ops=get+put."
            ) from None
    return FaultPlan(**values)  # type: ignore[arg-type]


class FaultInjectingStore(StoreWrapper):
    """Wraps a store and, per call, may delay, fail transiently, throttle or cut reads."""

    def __init__(self, inner: Store, plan: FaultPlan) -> None:
        super().__init__(inner)
        self.plan = plan
        self._rng = random.Random(plan.seed)
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()

    def _roll(self) -> float:
        with self._lock:
            return self._rng.random()

    def before(self, op: str, key: str | None) -> None:
        if op not in self.plan.operations:
            return
        plan = self.plan
        if plan.latency and self._roll() < plan.latency:
            lo, hi = plan.latency_s
            with self._lock:
                delay = self._rng.uniform(lo, hi)
            self.injected["latency"] += 1
            time.sleep(delay)
        target = f"{self.url}/{key}" if key else self.url
        if plan.throttle and self._roll() < plan.throttle:
            self.injected["throttle"] += 1
            raise ThrottledError(
                f"{target}: injected throttling (503 SlowDown); back off and retry."
            )
        if plan.transient and self._roll() < plan.transient:
            self.injected["transient"] += 1
            raise ServiceError(f"{target}: injected transient failure (500); retry.")

    def wrap_reader(self, reader: ObjectReader, key: str) -> ObjectReader:
        if (
            "get" in self.plan.operations
            and self.plan.truncate
            and reader.expected > 0
            and self._roll() < self.plan.truncate
        ):
            self.injected["truncate"] += 1
            with self._lock:
                cut = self._rng.randrange(0, reader.expected)
            return ObjectReader(
                reader.info, _cut(iter(reader), cut), reader.expected, label=f"{self.url}/{key}"
            )
        return reader


def _cut(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    """Yield at most ``limit`` bytes, then stop as a dropped connection would."""
    sent = 0
    for chunk in chunks:
        if sent + len(chunk) >= limit:
            yield bytes(memoryview(chunk)[: limit - sent])
            return
        sent += len(chunk)
        yield chunk
    if sent < limit:  # pragma: no cover - limit is always below the object size
        raise TruncatedReadError("unreachable")
