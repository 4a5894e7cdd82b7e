"""Retries with exponential backoff and full jitter, for transient errors only.

``backoff_delay`` is pure; ``call_with_retries`` does the sleeping.  obstore
already retries individual HTTP requests; this layer retries whole operations
(a failed streamed copy, an injected fault) and is what the migration engine uses.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from passerelle.errors import ThrottledError, TransientError

__all__ = ["RetryPolicy", "backoff_delay", "call_with_retries"]

T = TypeVar("T")
_RNG = random.Random()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 6
    base_s: float = 0.1
    cap_s: float = 20.0
    throttle_factor: float = 4.0


def backoff_delay(
    policy: RetryPolicy, attempt: int, rng: random.Random, *, throttled: bool = False
) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1).

    Full jitter: uniform in ``[0, min(cap, base * 2**(attempt-1))]``, scaled up
    when the service said it was throttling.
    """
    ceiling = min(policy.cap_s, policy.base_s * (2 ** (attempt - 1)))
    if throttled:
        ceiling = min(policy.cap_s, ceiling * policy.throttle_factor)
    return rng.uniform(0, ceiling)


def call_with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy = RetryPolicy(),
    *,
    rng: random.Random | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, TransientError, float], None] | None = None,
) -> T:
    """Call ``fn``; on :class:`TransientError` wait and retry, up to ``max_attempts`` calls."""
    rng = rng or _RNG
    attempt = 1
    while True:
        try:
            return fn()
        except TransientError as exc:
            if attempt >= policy.max_attempts:
                raise
            delay = backoff_delay(policy, attempt, rng, throttled=isinstance(exc, ThrottledError))
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)
            attempt += 1
