"""A store wrapper that injects faults on purpose, for chaos tests and rehearsals.

Seeded, so a failing run can be replayed: with the same seed and the same
sequence of calls, the same faults happen.  Wrap any store::

    chaotic = FaultInjectingStore(open_store("s3://bucket"), FaultPlan(seed=7, transient=0.1))

``link`` simulates a host's network link: the bytes read through every store this
process wraps with the same plan share one token bucket of ``link`` bytes/s, so N
worker processes have N links, as N hosts would (writes are not charged: a link
is full duplex, and a copy uploads the bytes it read at the same rate).  With
``latency=1,latency_s=0.02`` every request also waits 20 ms: a simulated WAN.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from passerelle.errors import ServiceError, ThrottledError, TruncatedReadError, UsageError
from passerelle.storage.base import ObjectReader, Store, StoreWrapper

if TYPE_CHECKING:
    from passerelle.migration.limits import TokenBucket

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
    link: float | None = None
    """Bytes per second read through this process's wrapped stores (one link per process)."""

    def __post_init__(self) -> None:
        if self.link is not None and not self.link > 0:
            raise UsageError(f"The fault plan's link={self.link} must be a positive rate.")
        for name in ("transient", "throttle", "latency", "truncate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise UsageError(f"Fault probability {name}={value} must be between 0 and 1.")
        unknown = set(self.operations) - ALL_OPERATIONS
        if unknown:
            raise UsageError(f"Unknown operation {sorted(unknown)[0]!r} in the fault plan.")


def parse_fault_plan(spec: str) -> FaultPlan:
    """``"seed=7,transient=0.1,latency=0.5,latency_s=0.01-0.2,ops=get+put,link=8MB"``."""
    from passerelle.migration.estimate import parse_rate

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
            elif name == "link":
                values["link"] = parse_rate(raw)
            elif name == "ops":
                values["operations"] = frozenset(raw.split("+"))
            else:
                raise KeyError(name)
        except (ValueError, KeyError, UsageError):
            raise UsageError(
                f"Cannot read {item!r} in the fault plan; use e.g. "
                "seed=7,transient=0.1,throttle=0.05,latency=0.5,latency_s=0.01-0.2,"
                "ops=get+put,link=8MB/s."
            ) from None
    return FaultPlan(**values)  # type: ignore[arg-type]


class FaultInjectingStore(StoreWrapper):
    """Wraps a store and, per call, may delay, fail transiently, throttle or cut reads."""

    def __init__(self, inner: Store, plan: FaultPlan, *, link: TokenBucket | None = None) -> None:
        super().__init__(inner)
        self.plan = plan
        self._rng = random.Random(plan.seed)
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        if link is None and plan.link is not None:
            link = process_link(plan.link)
        self.link = link
        """The bucket reads are charged to (``None``: no simulated link)."""

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
        if self.link is not None:
            reader = ObjectReader(
                reader.info,
                _paced(iter(reader), self.link),
                reader.expected,
                label=f"{self.url}/{key}",
            )
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


_links: dict[tuple[int, float], TokenBucket] = {}
_links_lock = threading.Lock()


def process_link(rate: float) -> TokenBucket:
    """This process's simulated link of ``rate`` bytes/s (a forked child gets its own)."""
    from passerelle.migration.limits import TokenBucket

    key = (os.getpid(), rate)
    with _links_lock:
        bucket = _links.get(key)
        if bucket is None:
            # A burst of 1/20 s: enough to pass a chunk, too little to hide the cap.
            bucket = _links[key] = TokenBucket(rate, max(rate / 20, 1.0))
        return bucket


def _paced(chunks: Iterator[bytes], bucket: TokenBucket) -> Iterator[bytes]:
    for chunk in chunks:
        bucket.acquire(len(chunk))
        yield chunk


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
