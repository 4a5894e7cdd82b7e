from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passerelle.errors import LimitExceededError
from passerelle.providers import profile_named
from passerelle.storage.model import GiB, MiB, PartLimits
from passerelle.storage.multipart import choose_part_size, part_count, use_multipart

SCALEWAY = profile_named("scaleway").limits


def test_scaleway_limits_are_the_published_ones() -> None:
    assert SCALEWAY.max_parts == 1000
    assert SCALEWAY.min_part_size == 5 * MiB
    assert SCALEWAY.max_part_size == 5 * GiB
    assert SCALEWAY.max_object_size == 5 * 10**12


@pytest.mark.parametrize(
    "size",
    [0, 1, 5 * MiB, 16 * MiB + 1, 10 * GiB, 100 * GiB, 1 * 10**12, 4_999_999_999_999, 5 * 10**12],
)
def test_scaleway_part_arithmetic_up_to_5_tb(size: int) -> None:
    part = choose_part_size(size, SCALEWAY)
    assert SCALEWAY.min_part_size <= part <= SCALEWAY.max_part_size
    assert part_count(size, part) <= 1000


def test_5_tb_needs_parts_of_about_5_gb() -> None:
    part = choose_part_size(5 * 10**12, SCALEWAY)
    assert part_count(5 * 10**12, part) == 1000
    assert part % MiB == 0


def test_beyond_5_tb_is_refused_with_a_sentence() -> None:
    with pytest.raises(LimitExceededError, match="more than the destination's limit"):
        choose_part_size(5 * 10**12 + 1, SCALEWAY)


def test_small_objects_keep_the_preferred_part_size() -> None:
    assert choose_part_size(100 * MiB, SCALEWAY, preferred=16 * MiB) == 16 * MiB
    assert not use_multipart(8 * MiB, SCALEWAY)
    assert use_multipart(8 * MiB + 1, SCALEWAY)


def test_impossible_limits_are_refused() -> None:
    tiny = PartLimits(
        min_part_size=1, max_part_size=10, max_parts=3, max_object_size=10**6, max_single_put=10
    )
    with pytest.raises(LimitExceededError, match="cannot fit"):
        choose_part_size(31, tiny, preferred=1)


limits_strategy = st.builds(
    PartLimits,
    min_part_size=st.sampled_from([1, 5 * MiB]),
    max_part_size=st.sampled_from([64 * MiB, 5 * GiB, 4000 * MiB]),
    max_parts=st.sampled_from([1000, 10_000, 50_000]),
    max_object_size=st.just(5 * 10**12),
    max_single_put=st.just(5 * GiB),
)


@given(
    st.integers(min_value=0, max_value=5 * 10**12),
    limits_strategy,
    st.sampled_from([MiB, 8 * MiB, 16 * MiB]),
)
def test_part_size_always_within_limits_or_refused(
    size: int, limits: PartLimits, pref: int
) -> None:
    try:
        part = choose_part_size(size, limits, pref)
    except LimitExceededError:
        assert size > limits.max_parts * limits.max_part_size
        return
    assert limits.min_part_size <= part <= max(limits.max_part_size, limits.min_part_size)
    assert part_count(size, part) <= limits.max_parts
    assert part >= min(pref, limits.max_part_size) or part >= limits.min_part_size
