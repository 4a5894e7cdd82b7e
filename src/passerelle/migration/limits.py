"""Request-rate and bandwidth caps, as a token bucket and a store wrapper.

``TokenBucket.reserve`` is pure arithmetic over an injected clock; ``acquire``
sleeps.  ``LimitedStore`` charges one token per request against the rate bucket
and each byte read against the bandwidth bucket.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from passerelle.storage.base import ObjectReader, Store, StoreWrapper

__all__ = ["LimitedStore", "TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second, bursts up to ``burst`` tokens (thread-safe)."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._stamp = clock()
        self._lock = threading.Lock()

    def reserve(self, amount: float) -> float:
        """Take ``amount`` tokens (possibly going into debt); return seconds to wait."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= amount
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self, amount: float = 1.0) -> None:
        wait = self.reserve(amount)
        if wait > 0:
            self._sleep(wait)


class LimitedStore(StoreWrapper):
    """Caps the requests per second sent to, and the bytes per second read from, a store."""

    def __init__(
        self,
        inner: Store,
        *,
        requests: TokenBucket | None = None,
        bandwidth: TokenBucket | None = None,
    ) -> None:
        super().__init__(inner)
        self.requests = requests
        self.bandwidth = bandwidth

    def before(self, op: str, key: str | None) -> None:
        if self.requests is not None:
            self.requests.acquire()

    def wrap_reader(self, reader: ObjectReader, key: str) -> ObjectReader:
        if self.bandwidth is None:
            return reader
        bucket = self.bandwidth

        def paced() -> Iterator[bytes]:
            for chunk in reader:
                bucket.acquire(len(chunk))
                yield chunk

        return ObjectReader(reader.info, paced(), reader.expected, label=f"{self.url}/{key}")
