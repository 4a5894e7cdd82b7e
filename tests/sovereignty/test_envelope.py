"""The envelope format, one named vector per way to break it (C2SP habit).

Each attack edits the raw object (bytes or metadata) in the store below an
``EncryptingStore``, then reads it back through a fresh one: every edit must be refused
with ``TamperedDataError`` or ``KeyUnavailableError``, never decrypted into other bytes.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.errors import KeyUnavailableError, TamperedDataError
from passerelle.keys import FileCustody
from passerelle.sovereignty.envelope import (
    HEADER_SIZE,
    MAGIC,
    SEGMENT_SIZE,
    TAG_SIZE,
    TRAILER_SIZE,
    Header,
    Sealer,
    SegmentCipher,
    binding,
    is_envelope,
    open_segments,
    parse_header,
    plaintext_size,
    segment_count,
    segment_span,
    stored_size,
    wrap_context,
)
from passerelle.storage import Store, open_store
from passerelle.storage.encrypting import DEK_KEY, KEK_KEY, EncryptingStore
from tests.backends import unique_name

S = SEGMENT_SIZE
STEP = S + TAG_SIZE
Refused = (TamperedDataError, KeyUnavailableError)


@pytest.fixture
def custody(tmp_path: Path) -> FileCustody:
    keys = FileCustody(tmp_path / "keks.json")
    keys.create_key()
    return keys


@pytest.fixture
def raw() -> Store:
    store = open_store(f"memory://{unique_name('envelope')}")
    store.create_container()
    return store


def _put(raw: Store, custody: FileCustody, key: str, data: bytes) -> None:
    EncryptingStore(raw, custody).put(key, data)


def _read_all(raw: Store, custody: FileCustody, key: str) -> bytes:
    return EncryptingStore(raw, custody).get(key).read()


def _rewrite(raw: Store, key: str, edit: Callable[[bytes], bytes]) -> None:
    """Replace ``key``'s stored bytes with ``edit(bytes)``, keeping its metadata."""
    reader = raw.get(key)
    blob = reader.read()
    raw.put(key, edit(blob), metadata=reader.info.metadata)


def _edit_metadata(raw: Store, key: str, **changes: str | None) -> None:
    """Edit ``key``'s metadata as the provider could, around passerelle's rule (an empty
    value included: Azure and Ceph keep one)."""
    import obstore

    reader = raw.get(key)
    meta = dict(reader.info.metadata or {})
    for name, value in changes.items():
        if value is None:
            meta.pop(name, None)
        else:
            meta[name] = value
    obstore.put(raw._store, raw._path(key), reader.read(), attributes=meta)  # type: ignore[attr-defined]


def _segment(blob: bytes, i: int) -> bytes:
    return blob[HEADER_SIZE + i * STEP : HEADER_SIZE + (i + 1) * STEP]


# -- vectors: what a reader must accept ------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [0, 1, S, 3 * S, 3 * S + 1],
    ids=["empty_object", "one_byte", "exactly_one_segment", "n_segments", "n_segments_plus_1"],
)
def test_valid(raw: Store, custody: FileCustody, size: int) -> None:
    data = os.urandom(size)
    _put(raw, custody, "v", data)
    blob = raw.get("v").read()
    overhead = HEADER_SIZE + TRAILER_SIZE + TAG_SIZE * segment_count(size)
    assert len(blob) == stored_size(size) == size + overhead
    assert segment_count(size) == max(1, -(-size // S))
    assert plaintext_size(len(blob)) == size
    assert _read_all(raw, custody, "v") == data
    assert EncryptingStore(raw, custody).plaintext_digest("v") == hashlib.sha256(data).hexdigest()


def test_known_answer_vector() -> None:
    """A fixed data key, object id and identity give these exact bytes (for a second
    implementation to check against; the spec in docs/sovereignty.md prints them)."""
    header = Header(bytes(range(16)))
    raw_header = header.to_bytes()
    assert raw_header.hex() == "8950534c454e560a0110000000000000" + bytes(range(16)).hex()
    b = binding(raw_header, "datasets/demo/part-0.parquet")
    cipher = SegmentCipher(bytes(range(32)), b)
    plaintext = b"passerelle" * 13108  # 131080 bytes: 2 full segments + 8 bytes
    sealer = Sealer(raw_header, cipher, S)
    stored = b"".join(sealer.chunks([plaintext]))
    assert len(stored) == stored_size(len(plaintext)) == 131_216
    assert b.hex() == KAT_BINDING
    assert hashlib.sha256(stored).hexdigest() == KAT_STORED_SHA256
    assert stored[-TRAILER_SIZE:].hex() == KAT_TRAILER
    assert wrap_context(b) == b"passerelle dek v1\x00" + b


KAT_BINDING = "b946c02a4fa900403aec0744d2f1354397f5e7232e1e58b9b90972e85528636e"
KAT_STORED_SHA256 = "8475b0d273b1628c5fe518da96d6fd9e2ca707a93f7b188209929f120ed4abea"
KAT_TRAILER = (
    "eb911e89db0533ba125d70d25b03b926110e01157352c73281a39a8d70d2b6d8"
    "ed06a5d46c0671cdcc44b9853b8bd973d462dac12ffd035f"
)


def _reference_seal(data_key: bytes, object_id: bytes, identity: str, plaintext: bytes) -> bytes:
    """The format written again from the spec's words alone (a second implementation)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = b"\x89PSLENV\n" + bytes([1, 16]) + bytes(6) + object_id
    name = identity.encode()
    bind = hashlib.sha256(
        b"passerelle envelope v1\x00" + header + len(name).to_bytes(4, "big") + name
    ).digest()
    aead = AESGCM(data_key)
    pieces = [plaintext[i : i + 65536] for i in range(0, len(plaintext), 65536)] or [b""]
    out = [header]
    for i, piece in enumerate(pieces):
        flag = bytes([i == len(pieces) - 1])
        out.append(
            aead.encrypt(i.to_bytes(11, "big") + flag, piece, bind + i.to_bytes(8, "big") + flag)
        )
    n = len(pieces)
    body = len(plaintext).to_bytes(8, "big") + hashlib.sha256(plaintext).digest()
    out.append(
        aead.encrypt(n.to_bytes(11, "big") + b"\x02", body, bind + n.to_bytes(8, "big") + b"\x02")
    )
    return b"".join(out)


@pytest.mark.parametrize("size", [0, 1, S, S + 1, 131_080])
def test_reference_implementation_agrees(size: int) -> None:
    plaintext = (b"passerelle" * 13108)[:size]
    key, object_id = bytes(range(32)), bytes(range(16))
    raw_header = Header(object_id).to_bytes()
    cipher = SegmentCipher(key, binding(raw_header, "datasets/demo/part-0.parquet"))
    ours = b"".join(Sealer(raw_header, cipher, S).chunks([plaintext]))
    assert ours == _reference_seal(key, object_id, "datasets/demo/part-0.parquet", plaintext)


# -- vectors: what a reader must refuse ------------------------------------------------

THREE = 3 * S + 100  # four segments, the last one short


def _truncate_segment_middle(blob: bytes) -> bytes:
    return blob[: HEADER_SIZE + STEP] + blob[HEADER_SIZE + 2 * STEP :]


def _truncate_segment_end(blob: bytes) -> bytes:
    """Drop the last (short) segment, keep the trailer: the new last one is not flagged last."""
    last = HEADER_SIZE + 3 * STEP
    return blob[:last] + blob[-TRAILER_SIZE:]


def _truncate_last_full_segment_and_trailer(blob: bytes) -> bytes:
    return blob[: HEADER_SIZE + 3 * STEP]


def _reorder(blob: bytes) -> bytes:
    return (
        blob[:HEADER_SIZE] + _segment(blob, 1) + _segment(blob, 0) + blob[HEADER_SIZE + 2 * STEP :]
    )


ATTACKS: dict[str, Callable[[bytes], bytes]] = {
    "truncated_by_segment_middle": _truncate_segment_middle,
    "truncated_by_segment_end": _truncate_segment_end,
    "truncated_to_full_segments": _truncate_last_full_segment_and_trailer,
    "truncated_by_one_byte": lambda b: b[:-1],
    "truncated_trailer": lambda b: b[:-TRAILER_SIZE],
    "truncated_half_trailer": lambda b: b[: -TRAILER_SIZE // 2],
    "extended_by_one_byte": lambda b: b + b"\x00",
    "extended_by_a_segment": lambda b: b[:-TRAILER_SIZE] + _segment(b, 0) + b[-TRAILER_SIZE:],
    "segments_reordered": _reorder,
    "segment_duplicated": lambda b: (
        b[: HEADER_SIZE + STEP] + _segment(b, 0) + b[HEADER_SIZE + 2 * STEP :]
    ),
    "ciphertext_bit_flipped": lambda b: _flip(b, HEADER_SIZE + STEP + 5),
    "tag_bit_flipped": lambda b: _flip(b, HEADER_SIZE + STEP - 1),
    "trailer_bit_flipped": lambda b: _flip(b, len(b) - 20),
    "header_missing": lambda b: b[HEADER_SIZE:],
}


def _flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 0x01]) + blob[at + 1 :]


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_stored_bytes_attack_is_refused(raw: Store, custody: FileCustody, attack: str) -> None:
    data = os.urandom(THREE)
    _put(raw, custody, "obj", data)
    _rewrite(raw, "obj", ATTACKS[attack])
    with pytest.raises(TamperedDataError):
        _read_all(raw, custody, "obj")
    with pytest.raises(TamperedDataError):
        EncryptingStore(raw, custody).plaintext_digest("obj")


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_ranged_read_of_the_damage_is_refused(
    raw: Store, custody: FileCustody, attack: str
) -> None:
    """A read of the object's end (where Parquet's footer is) meets every edit above."""
    data = os.urandom(THREE)
    _put(raw, custody, "obj", data)
    _rewrite(raw, "obj", ATTACKS[attack])
    store = EncryptingStore(raw, custody)
    with pytest.raises(TamperedDataError):
        store.get("obj", start=0, end=THREE).read()


@pytest.mark.parametrize("at", range(HEADER_SIZE))
def test_tampered_header_byte(raw: Store, custody: FileCustody, at: int) -> None:
    """Magic, version, segment size, reserved bytes, object id: each byte is checked."""
    _put(raw, custody, "h", os.urandom(S + 3))
    _rewrite(raw, "h", lambda b: _flip(b, at))
    with pytest.raises(TamperedDataError):
        _read_all(raw, custody, "h")
    with pytest.raises(TamperedDataError):
        EncryptingStore(raw, custody).get("h", start=S).read()


def test_segment_spliced_from_another_object(raw: Store, custody: FileCustody) -> None:
    _put(raw, custody, "a", os.urandom(THREE))
    _put(raw, custody, "b", os.urandom(THREE))
    donor = _segment(raw.get("b").read(), 1)
    _rewrite(
        raw, "a", lambda blob: blob[: HEADER_SIZE + STEP] + donor + blob[HEADER_SIZE + 2 * STEP :]
    )
    with pytest.raises(TamperedDataError, match="segment 1"):
        _read_all(raw, custody, "a")


def test_trailer_spliced_from_another_object_of_the_same_size(
    raw: Store, custody: FileCustody
) -> None:
    _put(raw, custody, "a", b"")
    _put(raw, custody, "b", b"")
    donor = raw.get("b").read()[-TRAILER_SIZE:]
    _rewrite(raw, "a", lambda blob: blob[:-TRAILER_SIZE] + donor)
    with pytest.raises(TamperedDataError, match="trailer"):
        _read_all(raw, custody, "a")


def test_whole_objects_swapped_between_keys(raw: Store, custody: FileCustody) -> None:
    """Bytes and metadata of a and b exchanged (what a provider could do): both refused."""
    _put(raw, custody, "a", b"A" * 1000)
    _put(raw, custody, "b", b"B" * 1000)
    raw.copy("a", "tmp")
    raw.copy("b", "a")
    raw.copy("tmp", "b")
    for key in ("a", "b"):
        with pytest.raises(TamperedDataError, match="does not belong to this object"):
            _read_all(raw, custody, key)
        with pytest.raises(TamperedDataError):
            EncryptingStore(raw, custody).get(key, start=10).read()


def test_bytes_swapped_metadata_kept(raw: Store, custody: FileCustody) -> None:
    _put(raw, custody, "a", b"A" * 1000)
    _put(raw, custody, "b", b"B" * 1000)
    other = raw.get("b").read()
    _rewrite(raw, "a", lambda _: other)
    with pytest.raises(TamperedDataError):
        _read_all(raw, custody, "a")


def test_wrapped_key_from_another_object(raw: Store, custody: FileCustody) -> None:
    _put(raw, custody, "a", b"A" * 10)
    _put(raw, custody, "b", b"B" * 10)
    _edit_metadata(raw, "a", **{DEK_KEY: (raw.head("b").metadata or {})[DEK_KEY]})
    with pytest.raises(TamperedDataError, match="does not belong"):
        _read_all(raw, custody, "a")


def test_wrapped_key_altered(raw: Store, custody: FileCustody) -> None:
    _put(raw, custody, "a", b"A" * 10)
    wrapped = bytearray(base64.b64decode((raw.head("a").metadata or {})[DEK_KEY]))
    wrapped[20] ^= 1
    _edit_metadata(raw, "a", **{DEK_KEY: base64.b64encode(bytes(wrapped)).decode()})
    with pytest.raises(TamperedDataError):
        _read_all(raw, custody, "a")


@pytest.mark.parametrize("value", ["not base64!", "", "QUJD"], ids=["garbage", "empty", "short"])
def test_wrapped_key_malformed(raw: Store, custody: FileCustody, value: str) -> None:
    _put(raw, custody, "a", b"A" * 10)
    _edit_metadata(raw, "a", **{DEK_KEY: value})
    with pytest.raises(TamperedDataError):
        _read_all(raw, custody, "a")


def test_key_id_pointed_at_another_kek(raw: Store, custody: FileCustody) -> None:
    _put(raw, custody, "a", b"A" * 10)
    other = custody.create_key()
    _edit_metadata(raw, "a", **{KEK_KEY: other})
    with pytest.raises(TamperedDataError):
        _read_all(raw, custody, "a")


@pytest.mark.parametrize("value", ["kek-unknown", "../../etc/passwd", "KEK-UPPER", ""])
def test_key_id_unknown_or_malformed(raw: Store, custody: FileCustody, value: str) -> None:
    _put(raw, custody, "a", b"A" * 10)
    _edit_metadata(raw, "a", **{KEK_KEY: value})
    with pytest.raises(KeyUnavailableError):
        _read_all(raw, custody, "a")


@pytest.mark.parametrize("name", ["passerelle_envelope", KEK_KEY, DEK_KEY])
def test_envelope_metadata_removed(raw: Store, custody: FileCustody, name: str) -> None:
    _put(raw, custody, "a", b"A" * 10)
    _edit_metadata(raw, "a", **{name: None})
    with pytest.raises(TamperedDataError, match="missing or altered"):
        _read_all(raw, custody, "a")


def test_wrong_kek_custody(raw: Store, custody: FileCustody, tmp_path: Path) -> None:
    _put(raw, custody, "a", b"A" * 10)
    elsewhere = FileCustody(tmp_path / "other.json")
    elsewhere.create_key()
    with pytest.raises(KeyUnavailableError, match="no key-encryption key"):
        _read_all(raw, elsewhere, "a")


def test_rotated_key(raw: Store, custody: FileCustody) -> None:
    """Rewrap keeps the data readable; the old wrapped key under the destroyed KEK is not."""
    data = os.urandom(2 * S)
    _put(raw, custody, "a", data)
    old_meta = dict(raw.head("a").metadata or {})
    old = old_meta[KEK_KEY]
    new = custody.create_key()
    assert EncryptingStore(raw, custody).rewrap("a", new)
    custody.destroy_key(old)
    assert _read_all(raw, custody, "a") == data
    raw.update_metadata("a", old_meta)  # the provider restores the pre-rotation metadata
    with pytest.raises(KeyUnavailableError, match="destroyed"):
        _read_all(raw, custody, "a")


def test_rewrap_from_or_to_a_destroyed_kek_is_refused(raw: Store, custody: FileCustody) -> None:
    _put(raw, custody, "a", b"A")
    _put(raw, custody, "b", b"B")
    first = custody.current_key_id()
    second = custody.create_key()
    refused: list[tuple[str, str, str]] = []
    store = EncryptingStore(raw, custody, on_refused=lambda *a: refused.append(a))
    assert store.rewrap("b", second)
    third = custody.create_key()
    custody.destroy_key(second)
    with pytest.raises(KeyUnavailableError):
        store.rewrap("a", second)  # the target is destroyed
    custody.destroy_key(first)
    with pytest.raises(KeyUnavailableError):
        store.rewrap("a", third)  # the source is destroyed: a is crypto-erased
    assert refused == [(second, "a", "key-unavailable"), (first, "a", "key-unavailable")]


def test_tamper_is_reported_once_per_read(raw: Store, custody: FileCustody) -> None:
    _put(raw, custody, "a", os.urandom(THREE))
    _rewrite(raw, "a", _reorder)
    refused: list[tuple[str, str, str]] = []
    store = EncryptingStore(raw, custody, on_refused=lambda *a: refused.append(a))
    with pytest.raises(TamperedDataError):
        store.get("a").read()
    assert refused == [(custody.current_key_id(), "a", "tampered")]


# -- the pure format -------------------------------------------------------------------


def test_is_envelope_reads_only_the_magic() -> None:
    assert is_envelope(MAGIC + b"anything")
    assert not is_envelope(b"PAR1....")
    assert not is_envelope(MAGIC[:-1])
    assert not is_envelope(b"")


@pytest.mark.parametrize(
    "raw_header",
    [
        b"",
        MAGIC,
        MAGIC + b"\x02\x10" + bytes(22),
        MAGIC + b"\x01\x0f" + bytes(22),
        MAGIC + b"\x01\x11" + bytes(22),
        MAGIC + b"\x01\x10\x01" + bytes(21),
    ],
    ids=["empty", "magic_only", "version_2", "segment_32k", "segment_128k", "reserved"],
)
def test_malformed_headers(raw_header: bytes) -> None:
    with pytest.raises(TamperedDataError):
        parse_header(raw_header)


@pytest.mark.parametrize("stored", [0, 87, 88, 103, HEADER_SIZE + TRAILER_SIZE + STEP + 16])
def test_impossible_stored_sizes(stored: int) -> None:
    with pytest.raises(TamperedDataError, match="not the size of any envelope"):
        plaintext_size(stored)


@given(st.integers(0, 1 << 40), st.sampled_from([1 << 10, 1 << 16, 1 << 20]))
def test_size_arithmetic_inverts(plain: int, segment: int) -> None:
    assert plaintext_size(stored_size(plain, segment), segment) == plain


@given(st.integers(0, 1 << 30), st.integers(1, 16))
def test_every_size_is_one_envelope_or_impossible(stored: int, log2_tenth: int) -> None:
    segment = 1 << (9 + log2_tenth % 8)
    try:
        plain = plaintext_size(stored, segment)
    except TamperedDataError:
        return
    assert stored_size(plain, segment) == stored


SMALL = 1024


def _boundary(n_segments: int, delta: int) -> int:
    return max(0, n_segments * SMALL + delta)


@settings(max_examples=200, deadline=None)
@given(
    size=st.builds(_boundary, st.integers(0, 5), st.integers(-2, 2)),
    data=st.data(),
)
def test_pure_ranges_at_segment_boundaries(size: int, data: st.DataObject) -> None:
    """Small segments, every boundary: a range's segments decrypt to the plaintext slice."""
    plaintext = bytes(i % 251 for i in range(size))
    raw_header = Header(os.urandom(16), SMALL).to_bytes()
    cipher = SegmentCipher(os.urandom(32), binding(raw_header, "k"))
    stored = b"".join(Sealer(raw_header, cipher, SMALL).chunks([plaintext]))
    assert len(stored) == stored_size(size, SMALL)
    if size == 0:
        return
    points = sorted(
        {0, size, *(min(size, max(0, k * SMALL + d)) for k in range(6) for d in (-1, 0, 1))}
    )
    start = data.draw(st.sampled_from([p for p in points if p < size]))
    end = data.draw(st.sampled_from([p for p in points if p > start]))
    span = segment_span(start, end, size, SMALL)
    body = stored[span.stored_start : span.stored_end]
    chunking = data.draw(st.integers(1, 3000))
    chunks = [body[i : i + chunking] for i in range(0, len(body), chunking)]
    assert b"".join(open_segments(cipher, chunks, span, size, SMALL)) == plaintext[start:end]


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> EncryptingStore:
    """One store for all examples (hypothesis runs many examples per test call)."""
    custody = FileCustody(tmp_path_factory.mktemp("envelope") / "keks.json")
    custody.create_key()
    return EncryptingStore(open_store(f"memory://{unique_name('hyp')}"), custody)


_PLAIN = os.urandom(4 * S + 2)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 3),
    delta=st.integers(-1, 1),
    lo=st.tuples(st.integers(0, 3), st.integers(-1, 1)),
    hi=st.tuples(st.integers(0, 4), st.integers(-1, 1)),
)
def test_store_ranges_at_segment_boundaries(
    shared_store: EncryptingStore,
    n: int,
    delta: int,
    lo: tuple[int, int],
    hi: tuple[int, int],
) -> None:
    """Through EncryptingStore with v1's 64 KiB segments: reads at every boundary."""
    size = max(1, n * S + delta)
    start = min(size - 1, max(0, lo[0] * S + lo[1]))
    end = min(size, max(start + 1, hi[0] * S + hi[1]))
    plaintext = _PLAIN[:size]
    key = f"o{size}"
    shared_store.put(key, plaintext)
    assert shared_store.get(key, start=start, end=end).read() == plaintext[start:end]
    assert shared_store.get(key, start=start).read() == plaintext[start:]


@pytest.mark.parametrize("kind", ["file", "pkcs11"], ids=["keyfile", "softhsm2"])
def test_envelopes_under_each_custody(kind: str, tmp_path: Path, raw: Store) -> None:
    """The same envelope under the key file and a PKCS#11 token (SoftHSM2): read, range,
    rotate without re-encrypting, refuse an altered wrapped key, crypto-erase."""
    from tests.keys.conftest import make_custody

    keys = make_custody(kind, tmp_path)
    first = keys.create_key()
    data = os.urandom(2 * S + 5)
    EncryptingStore(raw, keys).put("d/part.parquet", data)
    assert (
        EncryptingStore(raw, keys).get("d/part.parquet", start=S - 1, end=S + 2).read()
        == (data[S - 1 : S + 2])
    )
    stored = raw.get("d/part.parquet").read()
    second = keys.create_key()
    assert EncryptingStore(raw, keys).rewrap("d/part.parquet", second)
    assert raw.get("d/part.parquet").read() == stored
    keys.destroy_key(first)
    assert EncryptingStore(raw, keys).get("d/part.parquet").read() == data
    good = dict(raw.head("d/part.parquet").metadata or {})
    wrapped = bytearray(base64.b64decode(good[DEK_KEY]))
    wrapped[-1] ^= 1
    _edit_metadata(raw, "d/part.parquet", **{DEK_KEY: base64.b64encode(bytes(wrapped)).decode()})
    with pytest.raises(TamperedDataError):
        _read_all(raw, keys, "d/part.parquet")
    raw.update_metadata("d/part.parquet", good)
    third = keys.create_key()
    assert third != second
    keys.destroy_key(second)
    with pytest.raises(KeyUnavailableError):
        _read_all(raw, keys, "d/part.parquet")


@pytest.mark.parametrize("value", ["2", "0", "1 "], ids=["v2", "v0", "padded"])
def test_envelope_version_in_metadata_altered(raw: Store, custody: FileCustody, value: str) -> None:
    _put(raw, custody, "a", b"A" * 10)
    _edit_metadata(raw, "a", passerelle_envelope=value)
    with pytest.raises(TamperedDataError, match="missing or altered"):
        _read_all(raw, custody, "a")


def test_copy_is_a_new_envelope(raw: Store, custody: FileCustody) -> None:
    """copy decrypts and encrypts again: new object id, new data key, the new identity."""
    store = EncryptingStore(raw, custody)
    store.put("src", b"same plaintext" * 1000, metadata={"origin": "x"})
    store.copy("src", "dst")
    src, dst = raw.get("src").read(), raw.get("dst").read()
    assert len(src) == len(dst) and src != dst
    assert parse_header(src).object_id != parse_header(dst).object_id
    src_meta, dst_meta = raw.head("src").metadata or {}, raw.head("dst").metadata or {}
    assert src_meta[DEK_KEY] != dst_meta[DEK_KEY]
    assert store.get("dst").read() == b"same plaintext" * 1000
    assert dict(store.head("dst").metadata or {}) == {"origin": "x"}
