"""The foreign provider holding the bucket attacks the envelopes it stores (real servers).

It reads and rewrites raw objects and their metadata at will: what does it learn, and which
of its edits does a reader accept?  Each test plays one move on Azurite, Ceph RGW and
SeaweedFS.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from passerelle.errors import KeyUnavailableError, TamperedDataError
from passerelle.keys import FileCustody
from passerelle.sovereignty.envelope import HEADER_SIZE, SEGMENT_SIZE, TAG_SIZE, stored_size
from passerelle.storage import Store, open_store
from passerelle.storage.encrypting import DEK_KEY, KEK_KEY, EncryptingStore
from tests.backends import new_store_url

S = SEGMENT_SIZE
MARKER = b"pseudonym-7f3a9c-PLAINTEXT-MARKER"
SERVERS = ("azurite", "ceph", "seaweedfs")


@pytest.fixture(params=SERVERS)
def raw(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return open_store(new_store_url(str(request.param), tmp_path, "redteam"))


@pytest.fixture
def custody(tmp_path: Path) -> FileCustody:
    keys = FileCustody(tmp_path / "keks" / "keks.json")
    keys.create_key()
    return keys


def _body(n: int, seed: bytes = b"") -> bytes:
    block = MARKER + seed + os.urandom(64)
    return (block * (n // len(block) + 1))[:n]


def _raw_copy(raw: Store, key: str) -> tuple[bytes, dict[str, str]]:
    reader = raw.get(key)
    return reader.read(), dict(reader.info.metadata or {})


def _restore(raw: Store, key: str, body: bytes, metadata: dict[str, str]) -> None:
    raw.put(key, body, size=len(body), metadata=metadata)


def test_what_the_provider_sees(raw: Store, custody: FileCustody) -> None:
    enc = EncryptingStore(raw, custody)
    data = _body(3 * S + 5)
    enc.put("datasets/pmsi_stays/v1/part-0.parquet", data, content_type="application/x-parquet")
    body, metadata = _raw_copy(raw, "datasets/pmsi_stays/v1/part-0.parquet")
    assert MARKER not in body and MARKER[:12] not in body
    assert b"PAR1" not in body
    # the metadata is the envelope's: version, KEK id, wrapped key (no plaintext fact)
    assert set(metadata) == {"passerelle_envelope", "passerelle_kek", "passerelle_dek"}
    assert all(MARKER.decode()[:12] not in v for v in metadata.values())
    # what it does learn: the key (dataset name, version folder) and the exact plaintext size
    (listed,) = list(raw.list("datasets/"))
    assert listed.size == stored_size(len(data))
    assert next(iter(enc.list("datasets/"))).size == len(data)


def test_an_old_version_put_back_under_its_own_key_is_authentic(
    raw: Store, custody: FileCustody
) -> None:
    # the envelope binds key, header and data key, not time: a stale but authentic copy of
    # the same key reads as valid; only a digest recorded outside the store (the catalog's,
    # a query result's result_sha256) tells it from the newer one
    enc = EncryptingStore(raw, custody)
    old, new = _body(S + 7, b"old"), _body(S + 7, b"new")
    enc.put("workspaces/project-1/result.parquet", old)
    saved = _raw_copy(raw, "workspaces/project-1/result.parquet")
    enc.put("workspaces/project-1/result.parquet", new)
    _restore(raw, "workspaces/project-1/result.parquet", *saved)
    fresh = EncryptingStore(raw, custody)
    assert fresh.get("workspaces/project-1/result.parquet").read() == old
    digest = fresh.plaintext_digest("workspaces/project-1/result.parquet")
    assert digest == hashlib.sha256(old).hexdigest() != hashlib.sha256(new).hexdigest()


def test_the_same_envelope_under_another_key_is_refused(raw: Store, custody: FileCustody) -> None:
    enc = EncryptingStore(raw, custody)
    enc.put("datasets/a/v1/p.parquet", _body(100, b"a"))
    enc.put("datasets/b/v1/p.parquet", _body(100, b"b"))
    _restore(raw, "datasets/b/v1/p.parquet", *_raw_copy(raw, "datasets/a/v1/p.parquet"))
    with pytest.raises(TamperedDataError):
        EncryptingStore(raw, custody).get("datasets/b/v1/p.parquet").read()


def test_old_key_metadata_put_back_after_crypto_erase_stays_unreadable(
    raw: Store, custody: FileCustody
) -> None:
    enc = EncryptingStore(raw, custody)
    data = _body(2 * S)
    enc.put("k.bin", data)
    before_rotation = _raw_copy(raw, "k.bin")
    old = custody.current_key_id()
    new = custody.create_key()
    assert enc.rewrap("k.bin", new)
    # before the old KEK is destroyed, the old metadata is merely the same data key again
    _restore(raw, "k.bin", *before_rotation)
    assert EncryptingStore(raw, custody).get("k.bin").read() == data
    assert EncryptingStore(raw, custody).rewrap("k.bin", new)
    custody.destroy_key(old)
    _restore(raw, "k.bin", *before_rotation)  # the provider rolls the rotation back
    with pytest.raises(KeyUnavailableError):
        EncryptingStore(raw, custody).get("k.bin").read()


@pytest.mark.parametrize(
    "edit",
    [
        "version-0",
        "version-2",
        "no-dek",
        "no-kek",
        "other-kek",
        "sibling-dek",
        "header-version-byte",
        "header-segment-size",
        "dek-bit-flip",
    ],
)
def test_metadata_and_header_edits_are_refused(raw: Store, custody: FileCustody, edit: str) -> None:
    enc = EncryptingStore(raw, custody)
    data = _body(S + 3)
    enc.put("x.bin", data)
    enc.put("y.bin", data)
    body, metadata = _raw_copy(raw, "x.bin")
    if edit == "version-0":
        metadata["passerelle_envelope"] = "0"
    elif edit == "version-2":
        metadata["passerelle_envelope"] = "2"
    elif edit == "no-dek":
        del metadata[DEK_KEY]
    elif edit == "no-kek":
        del metadata[KEK_KEY]
    elif edit == "other-kek":  # a real KEK of the hub's, not the one that wrapped it
        metadata[KEK_KEY] = custody.create_key()
    elif edit == "sibling-dek":  # the wrapped key of another object under the same KEK
        metadata[DEK_KEY] = _raw_copy(raw, "y.bin")[1][DEK_KEY]
    elif edit == "header-version-byte":
        body = body[:8] + b"\x00" + body[9:]
    elif edit == "header-segment-size":  # claim 32 KiB segments
        body = body[:9] + b"\x0f" + body[10:]
    elif edit == "dek-bit-flip":
        wrapped = bytearray(base64.b64decode(metadata[DEK_KEY]))
        wrapped[-1] ^= 1
        metadata[DEK_KEY] = base64.b64encode(bytes(wrapped)).decode()
    _restore(raw, "x.bin", body, metadata)
    fresh = EncryptingStore(raw, custody)
    with pytest.raises((TamperedDataError, KeyUnavailableError)):
        fresh.get("x.bin").read()
    with pytest.raises((TamperedDataError, KeyUnavailableError)):
        fresh.get("x.bin", start=S, end=S + 2).read()


def test_truncation_and_splicing_by_the_provider(raw: Store, custody: FileCustody) -> None:
    enc = EncryptingStore(raw, custody)
    data = _body(3 * S + 11)
    enc.put("t.bin", data)
    enc.put("u.bin", _body(3 * S + 11, b"u"))
    body, metadata = _raw_copy(raw, "t.bin")
    step = S + TAG_SIZE
    # cut the last segment and the trailer: the size is still an envelope's (3 whole segments)
    # -- the whole read fails at the (new) last segment, whose lastness flag is wrong
    cut = body[: HEADER_SIZE + 3 * step]
    _restore(raw, "t.bin", cut + body[-56:], metadata)
    with pytest.raises(TamperedDataError):
        EncryptingStore(raw, custody).get("t.bin").read()
    # a ranged read of segment 0 does not reach the end: it cannot see the cut (Parquet reads
    # its footer at the end first, so a truncated file fails on open)
    assert EncryptingStore(raw, custody).get("t.bin", start=0, end=10).read() == data[:10]
    # segment 1 of another object under the same KEK, spliced in at the same offset
    other, _ = _raw_copy(raw, "u.bin")
    at = HEADER_SIZE + step
    _restore(raw, "t.bin", body[:at] + other[at : at + step] + body[at + step :], metadata)
    with pytest.raises(TamperedDataError):
        EncryptingStore(raw, custody).get("t.bin", start=S, end=S + 5).read()
    # segments 1 and 2 swapped
    swapped = body[:at] + body[at + step : at + 2 * step] + body[at : at + step]
    _restore(raw, "t.bin", swapped + body[at + 2 * step :], metadata)
    with pytest.raises(TamperedDataError):
        EncryptingStore(raw, custody).get("t.bin").read()
