"""Failed authentications per source address: a cap per fixed window, and floods counted.

Each address that fails to authenticate opens a window of ``window`` length. Its
first failure is audited on its own; later failures in the window are only
counted; after ``limit`` failures every attempt from that address is refused
(HTTP 429) without its token being looked at, until the window ends. When the
window has ended, ``closed`` hands back what was counted but not yet audited as
one ``Flood``, which the caller writes as a single ``auth.flood`` event. So a
flood of bad tokens costs the audit log a few events, not one per request, and
other addresses are never held back by it.

State is in memory, per process, under a lock; time is always passed in (the
hub's clock), so the bookkeeping is pure and tested without waiting.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["FailureLimiter", "Flood", "source_of"]

MAX_SOURCES = 100_000
"""Addresses tracked at once; beyond it the oldest window is closed early (its count kept)."""


def source_of(address: str) -> str:
    """The source a failure is counted against: an IPv4 address, or an IPv6 /64.

    One IPv6 customer holds at least a /64 (2^64 addresses): counted per address,
    they could name a new one on every guess and never be throttled. An IPv4
    address written as IPv6 (``::ffff:203.0.113.7``) counts as itself. Text that is
    no address (a test client, ``unknown``) is kept as it is.
    """
    import ipaddress

    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # no zone index ("fe80::1%eth0")
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass
class _Window:
    opened: datetime
    failures: int = 0
    throttled: int = 0


@dataclass(frozen=True)
class Flood:
    """A closed window holding more than its one audited failure."""

    source: str
    opened: datetime
    closed: datetime
    failures: int
    throttled: int

    def audit_details(self) -> dict[str, object]:
        return {
            "source": self.source,
            "failures": self.failures,
            "throttled": self.throttled,
            "from": self.opened.isoformat(timespec="seconds"),
            "until": self.closed.isoformat(timespec="seconds"),
        }


class FailureLimiter:
    """At most ``limit`` failed authentications per source (:func:`source_of`) per ``window``."""

    def __init__(self, limit: int, window: timedelta, *, max_sources: int = MAX_SOURCES) -> None:
        if limit < 1 or window <= timedelta(0):
            raise ValueError("the limiter needs a positive limit and window")
        self.limit = limit
        self.window = window
        self.max_sources = max_sources
        self._windows: dict[str, _Window] = {}  # in opening order
        self._early: list[Flood] = []
        self._lock = threading.Lock()

    def blocked(self, source: str, now: datetime) -> int | None:
        """Seconds ``source`` must wait (the attempt is counted), or None if it may try."""
        source = source_of(source)
        with self._lock:
            w = self._windows.get(source)
            end = w.opened + self.window if w else now
            if w is None or now >= end or w.failures < self.limit:
                return None
            w.throttled += 1
            return max(1, math.ceil((end - now).total_seconds()))

    def failed(self, source: str, now: datetime) -> bool:
        """Count a failure; True when it opens a window (audit it on its own)."""
        source = source_of(source)
        with self._lock:
            w = self._windows.get(source)
            if w is not None and now < w.opened + self.window:
                w.failures += 1
                return False
            if w is not None:  # ended but not yet collected
                self._close(source, w, now)
            if len(self._windows) >= self.max_sources:
                oldest = next(iter(self._windows))
                self._close(oldest, self._windows[oldest], now)
            self._windows[source] = _Window(now, failures=1)
            return True

    def closed(self, now: datetime) -> list[Flood]:
        """Floods whose window has ended (each handed back once)."""
        with self._lock:
            ended = []
            for source, w in self._windows.items():  # in opening order: stop at an open one
                if now < w.opened + self.window:
                    break
                ended.append(source)
            for source in ended:
                w = self._windows[source]
                self._close(source, w, w.opened + self.window)
            out, self._early = self._early, []
            return out

    def drain(self, now: datetime) -> list[Flood]:
        """Every pending flood, open windows included (at shutdown)."""
        with self._lock:
            for source, w in list(self._windows.items()):
                self._close(source, w, min(now, w.opened + self.window))
            out, self._early = self._early, []
            return out

    def _close(self, source: str, w: _Window, at: datetime) -> None:
        del self._windows[source]
        if w.failures > 1 or w.throttled:
            self._early.append(Flood(source, w.opened, at, w.failures, w.throttled))
