"""The pure bookkeeping of failed authentications: windows, caps and flood counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.errors import UsageError
from passerelle.hub.accounts import token_expiry
from passerelle.hub.auth_floods import FailureLimiter

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=60)

attempts = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(min_value=0, max_value=5)),
    max_size=200,
)
"""(source, seconds since the previous attempt) pairs: a random schedule of bad tokens."""


@given(schedule=attempts, limit=st.integers(min_value=1, max_value=5))
@settings(max_examples=200, deadline=None)
def test_every_attempt_is_counted_once_and_the_cap_holds(
    schedule: list[tuple[str, int]], limit: int
) -> None:
    limiter = FailureLimiter(limit, WINDOW)
    now = T0
    audited, refused, throttled = 0, 0, 0
    counted_failures, counted_throttled = 0, 0
    per_window: dict[str, int] = {}
    for source, step in schedule:
        now += timedelta(seconds=step)
        for flood in limiter.closed(now):
            counted_failures += flood.failures - 1  # its first failure was audited alone
            counted_throttled += flood.throttled
            assert flood.failures <= limit
        if limiter.blocked(source, now) is not None:
            throttled += 1
            continue
        refused += 1
        if limiter.failed(source, now):
            audited += 1
            per_window[source] = 1
        else:
            per_window[source] += 1
        assert per_window[source] <= limit
    for flood in limiter.drain(now):
        counted_failures += flood.failures - 1
        counted_throttled += flood.throttled
    assert audited + counted_failures == refused
    assert counted_throttled == throttled


def test_an_address_is_held_only_until_its_window_ends() -> None:
    limiter = FailureLimiter(2, WINDOW)
    assert limiter.failed("a", T0) and not limiter.failed("a", T0)
    assert limiter.blocked("a", T0 + timedelta(seconds=15)) == 45
    assert limiter.blocked("b", T0) is None
    assert limiter.blocked("a", T0 + WINDOW) is None
    (flood,) = limiter.closed(T0 + WINDOW)
    assert (flood.source, flood.failures, flood.throttled) == ("a", 2, 1)
    assert limiter.closed(T0 + 2 * WINDOW) == []


def test_a_single_failure_is_no_flood() -> None:
    limiter = FailureLimiter(5, WINDOW)
    assert limiter.failed("a", T0)
    assert limiter.closed(T0 + WINDOW) == []


def test_tracked_addresses_are_bounded_without_losing_counts() -> None:
    limiter = FailureLimiter(5, WINDOW, max_sources=3)
    for source in "abcd":
        limiter.failed(source, T0)
        limiter.failed(source, T0)
    early = limiter.closed(T0)
    assert [(f.source, f.failures) for f in early] == [("a", 2)]


def test_token_expiry_takes_the_cap_then_the_parent() -> None:
    cap = 30
    assert token_expiry(T0, cap_days=cap, days=None, parent_expires=None) == T0 + timedelta(30)
    assert token_expiry(T0, cap_days=cap, days=7, parent_expires=None) == T0 + timedelta(7)
    parent = T0 + timedelta(days=10)
    assert token_expiry(T0, cap_days=cap, days=None, parent_expires=parent) == parent
    assert token_expiry(T0, cap_days=cap, days=10, parent_expires=parent) == parent
    with pytest.raises(UsageError, match="at most 10 day"):
        token_expiry(T0, cap_days=cap, days=11, parent_expires=parent)
    for days in (0, -1, 31):
        with pytest.raises(UsageError, match="1 to 30 days"):
            token_expiry(T0, cap_days=cap, days=days, parent_expires=None)
