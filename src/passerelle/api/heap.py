"""Short garbage-collector pauses for a long-running server process.

A served hub keeps about 165,000 objects alive (modules, the app, SQLAlchemy's and
Jinja2's caches). Python's full collection walks all of them while holding the
interpreter lock, measured at 90-125 ms here, once every few thousand requests: every
request in flight waits that long, which is what a load's p99 sees. Once the process has
warmed up, :func:`settle_heap` collects once and moves every object still alive to the
permanent generation (:func:`gc.freeze`), so later full collections walk only what came
after (measured: at most 3 ms). Objects frozen are never freed, so only a server calls
this, once at start and once after its first minute (the first requests import and
cache the rest); a library function or a test never does.

A server also collects its youngest generation less often (:data:`SERVER_THRESHOLDS`:
every 10,000 allocations instead of 700): a catalog read allocates a few thousand
objects, nearly all freed by reference counting, so the default ran a young
collection on almost every request (measured: 3-9 % of a request's CPU, paired runs).
"""

from __future__ import annotations

import gc
import threading

__all__ = ["SERVER_THRESHOLDS", "WARM_UP_SECONDS", "settle_heap", "settle_now_and_after_warm_up"]

SERVER_THRESHOLDS = (10_000, 20, 20)
"""``gc.set_threshold`` in a served process (Python's defaults: 700, 10, 10)."""

WARM_UP_SECONDS = 60.0
"""When the second settling runs: by then the first requests have imported what they use."""


def settle_heap() -> None:
    """Collect what is garbage now, then freeze everything still alive."""
    gc.collect()
    gc.freeze()


def settle_now_and_after_warm_up(delay_s: float = WARM_UP_SECONDS) -> threading.Timer:
    """Settle the heap now and again after ``delay_s`` (a daemon timer, returned), and
    collect the young generations at the server's pace."""
    gc.set_threshold(*SERVER_THRESHOLDS)
    settle_heap()
    timer = threading.Timer(delay_s, settle_heap)
    timer.daemon = True
    timer.name = "passerelle-settle-heap"
    timer.start()
    return timer
