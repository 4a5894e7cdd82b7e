"""The NIR control key, including Corsica's 2A/2B, checked against the definition."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.ingest.nir import nir_key, nir_key_ok, nir_keys_ok, normalize_nir, with_key

bodies = st.builds(
    lambda sex, yy, mm, dept, rest: f"{sex}{yy:02d}{mm:02d}{dept}{rest:06d}",
    st.sampled_from("12"),
    st.integers(0, 99),
    st.integers(1, 12),
    st.sampled_from(["01", "13", "75", "95", "99", "2A", "2B"]),
    st.integers(0, 999_999),
)


def _reference_key(body: str) -> int:
    number = body.replace("2A", "19") if body[5:7] == "2A" else body
    number = number.replace("2B", "18") if body[5:7] == "2B" else number
    return 97 - int(number) % 97


@settings(deadline=None)
@given(bodies)
def test_key_is_97_minus_number_mod_97(body: str) -> None:
    assert nir_key(body) == _reference_key(body)
    assert 1 <= nir_key(body) <= 97
    assert nir_key_ok(with_key(body))


@settings(deadline=None)
@given(bodies, st.integers(1, 96))
def test_any_other_key_is_refused(body: str, shift: int) -> None:
    wrong = (nir_key(body) - 1 + shift) % 97 + 1
    assert not nir_key_ok(f"{body}{wrong:02d}")


@settings(deadline=None)
@given(st.lists(bodies, min_size=1, max_size=30), st.data())
def test_vectorised_check_agrees_with_scalar(body_list: list[str], data: st.DataObject) -> None:
    nirs = [
        with_key(b) if data.draw(st.booleans()) else f"{b}{nir_key(b) % 97 + 1:02d}"
        for b in body_list
    ]
    got = nir_keys_ok(pa.array(nirs)).to_pylist()
    assert got == [nir_key_ok(n) for n in nirs]


def test_known_numbers_and_corsica() -> None:
    # 2A counts as 19 and 2B as 18 in the number, so the keys differ from a plain "20".
    assert with_key("1840762001123") == "184076200112336"
    assert nir_key("2900120123456") != nir_key("290012A123456")
    assert nir_key("290012A123456") == 97 - 2900119123456 % 97
    assert nir_key("290012B123456") == 97 - 2900118123456 % 97
    assert nir_key_ok("1 84 07 62 001 123 36")
    assert normalize_nir("2 90 01 2a 123 456-18") == "290012A12345618"
    assert not nir_key_ok("18407620011233")  # 14 characters
    assert not nir_keys_ok(pa.array([None, "", "ABC"])).to_pylist()[0]
