"""One contract, every custody: the key file and a PKCS#11 token (SoftHSM2)."""

from __future__ import annotations

import secrets
import threading

import pytest

from passerelle.errors import KeyUnavailableError, TamperedDataError
from passerelle.keys import KekState, KeyCustody

CONTEXT = b"passerelle dek v1\x00" + bytes(range(32))


def test_round_trip_and_wrapped_layout(custody: KeyCustody) -> None:
    key_id = custody.create_key()
    assert custody.current_key_id() == key_id
    data_key = secrets.token_bytes(32)
    wrapped = custody.wrap(key_id, data_key, CONTEXT)
    assert len(wrapped) == 12 + 32 + 16  # nonce || ciphertext || tag
    assert data_key not in wrapped
    assert custody.unwrap(key_id, wrapped, CONTEXT) == data_key
    again = custody.wrap(key_id, data_key, CONTEXT)
    assert again != wrapped  # a fresh nonce each time
    assert custody.unwrap(key_id, again, CONTEXT) == data_key


def test_a_wrapped_key_is_bound_to_its_context(custody: KeyCustody) -> None:
    key_id = custody.create_key()
    wrapped = custody.wrap(key_id, b"k" * 32, CONTEXT)
    for other in (b"", CONTEXT[:-1], CONTEXT + b"\x00", CONTEXT[:-1] + b"\x01"):
        with pytest.raises(TamperedDataError, match="does not belong to this object"):
            custody.unwrap(key_id, wrapped, other)


def test_every_altered_byte_of_a_wrapped_key_is_detected(custody: KeyCustody) -> None:
    key_id = custody.create_key()
    wrapped = custody.wrap(key_id, b"k" * 32, CONTEXT)
    for i in range(len(wrapped)):  # nonce, ciphertext and tag alike
        bad = bytearray(wrapped)
        bad[i] ^= 0x01
        with pytest.raises(TamperedDataError):
            custody.unwrap(key_id, bytes(bad), CONTEXT)
    for short in (b"", wrapped[:12], wrapped[:27], wrapped[:-1]):
        with pytest.raises(TamperedDataError):
            custody.unwrap(key_id, short, CONTEXT)
    with pytest.raises(TamperedDataError):
        custody.unwrap(key_id, wrapped + b"\x00", CONTEXT)


def test_a_key_wrapped_under_one_kek_does_not_open_under_another(custody: KeyCustody) -> None:
    first = custody.create_key()
    second = custody.create_key()
    wrapped = custody.wrap(first, b"k" * 32, CONTEXT)
    with pytest.raises(TamperedDataError):
        custody.unwrap(second, wrapped, CONTEXT)
    assert custody.unwrap(first, wrapped, CONTEXT) == b"k" * 32  # retired still unwraps


def test_states_and_the_current_key(custody: KeyCustody) -> None:
    assert custody.keys() == []
    with pytest.raises(KeyUnavailableError, match="keys create"):
        custody.current_key_id()
    first = custody.create_key()
    second = custody.create_key()
    assert custody.current_key_id() == second
    states = {k.key_id: k.state for k in list(custody.keys())}
    assert states == {first: KekState.RETIRED, second: KekState.CURRENT}
    assert [k.key_id for k in list(custody.keys())] == [first, second]  # oldest first
    assert all(k.custody == custody.kind for k in list(custody.keys()))
    custody.wrap(first, b"k" * 32, CONTEXT)  # a retired KEK still wraps (rotation)


def test_the_current_key_cannot_be_destroyed(custody: KeyCustody) -> None:
    key_id = custody.create_key()
    with pytest.raises(KeyUnavailableError, match="rotate"):
        custody.destroy_key(key_id)
    wrapped = custody.wrap(key_id, b"k" * 32, CONTEXT)
    assert custody.unwrap(key_id, wrapped, CONTEXT) == b"k" * 32


def test_a_destroyed_key_stays_listed_and_opens_nothing(custody: KeyCustody) -> None:
    old = custody.create_key()
    wrapped = custody.wrap(old, b"k" * 32, CONTEXT)
    new = custody.create_key()
    custody.destroy_key(old)
    with pytest.raises(KeyUnavailableError, match="crypto-erased"):
        custody.unwrap(old, wrapped, CONTEXT)
    with pytest.raises(KeyUnavailableError):
        custody.wrap(old, b"k" * 32, CONTEXT)
    listed = {k.key_id: k for k in list(custody.keys())}
    assert listed[old].state is KekState.DESTROYED
    assert listed[old].destroyed is not None and listed[old].destroyed >= listed[old].created
    assert listed[new].state is KekState.CURRENT and listed[new].destroyed is None
    assert custody.current_key_id() == new


@pytest.mark.parametrize(
    "key_id", ["", "KEK-UPPER", "../etc", "kek\n", "k" * 65, "kek 1", "ké", "-kek"]
)
def test_hostile_key_ids_are_refused_in_one_sentence(custody: KeyCustody, key_id: str) -> None:
    custody.create_key()
    for call in (
        lambda: custody.wrap(key_id, b"k" * 32, CONTEXT),
        lambda: custody.unwrap(key_id, b"x" * 60, CONTEXT),
        lambda: custody.destroy_key(key_id),
    ):
        with pytest.raises(KeyUnavailableError, match="is not a key id"):
            call()


def test_unknown_keys_are_unavailable(custody: KeyCustody) -> None:
    custody.create_key()
    with pytest.raises(KeyUnavailableError):
        custody.unwrap("kek-20200101-00000000", b"x" * 60, CONTEXT)
    with pytest.raises(KeyUnavailableError):
        custody.destroy_key("kek-20200101-00000000")


def test_many_threads_wrap_and_unwrap_at_once(custody: KeyCustody) -> None:
    key_id = custody.create_key()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(40):
                data_key = bytes([n, i]) * 16
                context = CONTEXT + bytes([n, i])
                assert custody.unwrap(key_id, custody.wrap(key_id, data_key, context), context) == (
                    data_key
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
