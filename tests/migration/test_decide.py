"""The pure decisions: diff actions, tier mapping, key filters, estimates, rate limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passerelle.errors import UsageError
from passerelle.migration.decide import (
    Action,
    KeyFilter,
    Prior,
    Side,
    decide,
    map_storage_class,
    same_etag,
)
from passerelle.migration.estimate import estimate_migration, parse_rate
from passerelle.migration.limits import TokenBucket
from passerelle.providers import profile_named

sides = st.builds(
    Side,
    st.integers(0, 10**6),
    st.sampled_from([None, '"a"', '"b"']),
    st.sampled_from([None, "Hot", "Cool", "Archive"]),
)
priors = st.builds(
    Prior,
    st.sampled_from([None, '"a"', '"b"']),
    st.integers(0, 10**6),
    st.sampled_from([None, '"x"', '"y"']),
    st.sampled_from([None, "ab" * 32]),
)


def test_basic_actions() -> None:
    assert decide(Side(5, '"a"'), None, None)[0] is Action.COPY
    assert decide(None, Side(5, '"x"'), None)[0] is Action.DEST_ONLY
    assert decide(Side(5, '"a"'), Side(5, '"x"'), None)[0] is Action.CHANGED
    proven = Prior('"a"', 5, '"x"', "ab" * 32)
    assert decide(Side(5, '"a"'), Side(5, '"x"'), proven)[0] is Action.IDENTICAL
    assert decide(Side(5, '"b"'), Side(5, '"x"'), proven)[0] is Action.CHANGED
    assert decide(Side(5, '"a"'), Side(5, '"z"'), proven)[0] is Action.CHANGED
    action, reason = decide(Side(5, '"a"', "Archive"), None, None)
    assert action is Action.BLOCKED and "rehydrate" in reason


@given(sides, st.one_of(st.none(), sides), st.one_of(st.none(), priors))
def test_equal_sizes_never_prove_a_match(src: Side, dst: Side | None, prior: Prior | None) -> None:
    action, _ = decide(src, dst, prior)
    if action is Action.IDENTICAL:
        assert prior is not None and prior.sha256
        assert prior.source_etag == src.etag and prior.dest_etag == dst.etag  # type: ignore[union-attr]
    if dst is None and action is not Action.BLOCKED:
        assert action is Action.COPY


def test_neither_side_is_an_error() -> None:
    with pytest.raises(ValueError):
        decide(None, None, None)


def test_azure_tiers_are_mapped_not_copied() -> None:
    assert map_storage_class("Hot") == "STANDARD"
    assert map_storage_class("Cool") == "STANDARD"
    assert map_storage_class("Cold") == "ONEZONE_IA"
    assert map_storage_class(None) is None
    assert map_storage_class("Hot", {"hot": "ONEZONE_IA"}) == "ONEZONE_IA"


def test_key_filter() -> None:
    keep = KeyFilter(include=("pmsi/*",), exclude=("*.tmp",))
    assert keep("pmsi/2026/a.csv")
    assert not keep("pmsi/2026/a.tmp")
    assert not keep("dcir/a.csv")
    assert KeyFilter()("anything")


def test_estimate_uses_profile_prices() -> None:
    azure, scaleway = profile_named("azure"), profile_named("scaleway")
    est = estimate_migration(
        10_000,
        1000 * 10**9,
        10,
        10 * 64,
        azure,
        scaleway,
        bandwidth_bytes_per_s=1.25e9,
        objects_per_s=1000,
    )
    assert est.egress_cost == pytest.approx((1000 - 100) * 0.087)
    assert est.destination_request_cost == 0.0  # Scaleway requests are free
    assert est.destination_requests == 9_990 + 640 + 20
    assert est.source_request_cost == pytest.approx(
        (10_000 * 0.00044 + 10 * 0.0065) / 1000, abs=1e-4
    )
    assert est.seconds == pytest.approx(800.0)
    assert est.costs_by_currency["USD"] > 78


def test_one_petabyte_at_10_gbit_takes_about_9_days() -> None:
    est = estimate_migration(
        1, 10**15, 0, 0, None, None, bandwidth_bytes_per_s=parse_rate("10Gbit/s")
    )
    assert 9.2 < est.seconds / 86400 < 9.3


@pytest.mark.parametrize(
    ("text", "value"),
    [("200MB/s", 2e8), ("1Gbit/s", 1.25e8), ("16MiB", 16 * 2**20), ("1000", 1000.0)],
)
def test_parse_rate(text: str, value: float) -> None:
    assert parse_rate(text) == value


@pytest.mark.parametrize("text", ["fast", "-5MB/s", "12XB", ""])
def test_parse_rate_refuses_nonsense(text: str) -> None:
    with pytest.raises(UsageError, match="not a rate"):
        parse_rate(text)


def test_token_bucket_paces_requests() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    bucket = TokenBucket(10, 10, clock=lambda: now[0], sleep=sleep)
    for _ in range(30):
        bucket.acquire()
    assert now[0] == pytest.approx(2.0)  # 10 free, then 20 at 10/s
    assert bucket.reserve(0) == 0.0


def test_limited_store_paces_requests_and_bytes() -> None:
    from passerelle.migration.limits import LimitedStore
    from passerelle.storage import open_store

    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    inner = open_store("memory://limited-store-test")
    inner.put("blob", b"x" * 4000)
    requests = TokenBucket(5, 1, clock=lambda: now[0], sleep=sleep)
    bandwidth = TokenBucket(1000, 1000, clock=lambda: now[0], sleep=sleep)
    store = LimitedStore(inner, requests=requests, bandwidth=bandwidth)
    for _ in range(6):
        store.head("blob")
    assert now[0] == pytest.approx(1.0)  # 6 requests at 5/s after a burst of 1
    before = now[0]
    assert store.get("blob").read() == b"x" * 4000
    assert now[0] - before >= 3.0  # 4000 bytes at 1000 B/s after a 1000-byte burst


def test_a_quoted_and_a_bare_etag_are_the_same_version() -> None:
    """Azure lists ETags bare but returns them quoted on writes and reads."""
    proven = Prior("0x1", 5, '"0x8D"', "ab" * 32)
    assert decide(Side(5, "0x1"), Side(5, "0x8D"), proven)[0] is Action.IDENTICAL
    assert decide(Side(5, "0x1"), Side(5, "0x8E"), proven)[0] is Action.CHANGED


@given(st.text(alphabet="0123456789abcdefx-", max_size=20))
def test_same_etag_ignores_only_the_quotes(tag: str) -> None:
    assert same_etag(f'"{tag}"', tag)
    assert not same_etag(tag, tag + "0")
