"""EncryptingStore on every backend: round trips, ranged reads, plaintext sizes, no plaintext stored."""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from passerelle.errors import (
    KeyUnavailableError,
    PreconditionFailedError,
    TamperedDataError,
    UnsupportedOperationError,
    UsageError,
)
from passerelle.keys import FileCustody
from passerelle.sovereignty.envelope import HEADER_SIZE, SEGMENT_SIZE, is_envelope, stored_size
from passerelle.storage import ObjectInfo, ObjectReader, Store, StoreWrapper, open_store
from passerelle.storage.encrypting import ENVELOPE_METADATA, UPDATE_ATTEMPTS, EncryptingStore
from passerelle.storage.model import Capabilities
from tests.backends import new_store_url

S = SEGMENT_SIZE
MARKER = b"NIR-1850575123456-PLAINTEXT-MARKER"


@pytest.fixture
def custody(tmp_path: Path) -> FileCustody:
    keys = FileCustody(tmp_path.with_name(tmp_path.name + "-keks") / "keks.json")
    keys.create_key()
    return keys


@pytest.fixture
def raw(backend: str, tmp_path: Path) -> Store:
    return open_store(new_store_url(backend, tmp_path, "enc"))


@pytest.fixture
def enc(raw: Store, custody: FileCustody) -> EncryptingStore:
    return EncryptingStore(raw, custody)


def _skip_without_conditional_updates(raw: Store) -> None:
    """Swift declares no conditional metadata update (its POST ignores If-Match): re-wrap
    refuses it (tested in tests/storage/test_swift.py) and a racing update is not guarded."""
    if not raw.capabilities.conditional_metadata:
        pytest.skip(f"{raw.url} declares conditional_metadata absent")


def _marked(size: int) -> bytes:
    """``size`` bytes with the plaintext marker repeated through them."""
    block = (MARKER + os.urandom(200)) * (size // (len(MARKER) + 200) + 1)
    return block[:size]


@pytest.mark.parametrize("size", [0, 1, S - 1, S, S + 1, 3 * S, 3 * S + 1, 1_000_003])
def test_round_trip_sizes_and_ranges(enc: EncryptingStore, raw: Store, size: int) -> None:
    data = _marked(size)
    result = enc.put("d/part-0.parquet", data, content_type="application/vnd.apache.parquet")
    assert result.size == size
    assert enc.get("d/part-0.parquet").read() == data
    assert enc.head("d/part-0.parquet").size == size
    assert [(i.key, i.size) for i in enc.list("d")] == [("d/part-0.parquet", size)]
    assert [o.size for o in enc.list_dir("d").objects] == [size]
    assert raw.head("d/part-0.parquet").size == stored_size(size)
    for lo, hi in ((0, 1), (S - 1, S + 1), (size // 3, size), (size - 1, None), (1, size + 9)):
        if 0 <= lo < size and (hi is None or hi > lo):
            assert enc.get("d/part-0.parquet", start=lo, end=hi).read() == data[lo:hi]


def test_streamed_put_from_uneven_chunks(enc: EncryptingStore) -> None:
    data = _marked(5 * S + 77)
    cuts = [0, 7, 7, S - 3, S + 5, 3 * S, len(data)]
    chunks = [data[a:b] for a, b in itertools.pairwise(cuts)]
    assert enc.put("s.bin", iter(chunks), size=len(data)).size == len(data)
    assert enc.get("s.bin").read() == data
    assert enc.put("n.bin", iter(chunks)).size == len(data)  # size unknown: streamed
    assert enc.get("n.bin").read() == data


def test_streamed_put_with_wrong_size_writes_nothing(enc: EncryptingStore) -> None:
    with pytest.raises(UsageError, match="nothing was written"):
        enc.put("short.bin", iter([b"x" * 10]), size=11)
    with pytest.raises(UsageError, match="nothing was written"):
        enc.put("long.bin", iter([b"x" * 10, b"y"]), size=10)
    assert list(enc.list()) == []


def test_raw_objects_hold_no_plaintext(enc: EncryptingStore, raw: Store) -> None:
    """Scan every stored object and its metadata for the marker the plaintext carries."""
    for i, size in enumerate((len(MARKER), 4096, 2 * S + 5, 700_000)):
        enc.put(f"t/{i}.csv", _marked(size), metadata={"source": "pmsi"})
    enc.copy("t/3.csv", "copied.csv")
    stored = list(raw.list())
    assert len(stored) == 5
    for info in stored:
        blob = raw.get(info.key).read()
        assert is_envelope(blob)
        assert MARKER not in blob
        assert MARKER[:12] not in blob
        meta = raw.head(info.key).metadata or {}
        assert set(ENVELOPE_METADATA) <= set(meta)
        assert all(MARKER.decode()[:12] not in v for v in meta.values())
    assert enc.get("copied.csv").read() == enc.get("t/3.csv").read()


def test_metadata_is_the_callers_and_envelope_keys_are_reserved(enc: EncryptingStore) -> None:
    enc.put("m.bin", b"abc", metadata={"source": "pmsi"}, content_type="text/csv")
    assert dict(enc.head("m.bin").metadata or {}) == {"source": "pmsi"}
    assert dict(enc.get("m.bin").info.metadata or {}) == {"source": "pmsi"}
    assert dict(enc.get("m.bin", start=1).info.metadata or {}) == {"source": "pmsi"}
    info = enc.update_metadata("m.bin", {"source": "sniiram"})
    assert dict(info.metadata or {}) == {"source": "sniiram"}
    assert enc.get("m.bin").read() == b"abc"
    for name in ENVELOPE_METADATA:
        with pytest.raises(UsageError, match="belongs to the envelope"):
            enc.put("x.bin", b"x", metadata={name: "1"})
        with pytest.raises(UsageError, match="belongs to the envelope"):
            enc.update_metadata("m.bin", {name: "1"})


def test_capabilities_say_what_is_emulated(enc: EncryptingStore) -> None:
    assert not enc.capabilities.server_side_copy
    assert not enc.capabilities.resumable_upload
    with pytest.raises(UnsupportedOperationError, match="no resumable uploads"):
        enc.start_upload("u.bin")


def test_rewrap_changes_only_the_wrapped_key(
    enc: EncryptingStore, raw: Store, custody: FileCustody
) -> None:
    _skip_without_conditional_updates(raw)
    data = _marked(2 * S + 3)
    enc.put("r.bin", data)
    before = raw.get("r.bin").read()
    old = enc.envelope_info("r.bin").key_id
    new = custody.create_key()
    assert enc.rewrap("r.bin", new) is True
    assert enc.rewrap("r.bin", new) is False
    assert raw.get("r.bin").read() == before  # no re-encryption
    assert enc.envelope_info("r.bin").key_id == new
    custody.destroy_key(old)
    fresh = EncryptingStore(raw, custody)
    assert fresh.get("r.bin").read() == data
    assert fresh.plaintext_digest("r.bin") == hashlib.sha256(data).hexdigest()


def test_envelope_info_and_digest(enc: EncryptingStore, raw: Store, custody: FileCustody) -> None:
    data = _marked(S + 9)
    enc.put("e.bin", data)
    info = enc.envelope_info("e.bin")
    assert info.key_id == custody.current_key_id()
    assert (info.plaintext_size, info.segment_size, info.format_version) == (len(data), S, 1)
    assert info.stored_size == raw.head("e.bin").size == stored_size(len(data))
    assert enc.plaintext_digest("e.bin") == hashlib.sha256(data).hexdigest()


def test_destroyed_kek_is_refused_and_reported(raw: Store, custody: FileCustody) -> None:
    refused: list[tuple[str, str, str]] = []
    enc = EncryptingStore(raw, custody, on_refused=lambda *a: refused.append(a))
    enc.put("gone.bin", b"secret")
    old = custody.current_key_id()
    custody.create_key()
    custody.destroy_key(old)
    fresh = EncryptingStore(raw, custody, on_refused=lambda *a: refused.append(a))
    with pytest.raises(KeyUnavailableError, match="destroyed"):
        fresh.get("gone.bin")
    with pytest.raises(KeyUnavailableError):
        fresh.get("gone.bin", start=2, end=4)
    assert refused == [(old, "gone.bin", "key-unavailable")] * 2


def test_a_kek_destroyed_by_another_process_is_refused_once_the_cache_expires(
    raw: Store, custody: FileCustody, tmp_path: Path
) -> None:
    """A running reader (a ``serve`` worker) keeps no unwrapped data key past
    ``cache_seconds``: a destroy made elsewhere (the CLI, another worker, here a
    second custody on the same key file) reaches it without a restart."""
    now = [1000.0]
    reader = EncryptingStore(raw, custody)
    reader.clock = lambda: now[0]  # type: ignore[method-assign]
    reader.put("held.bin", b"erase me")
    assert reader.get("held.bin", start=1, end=3).read() == b"ra"  # its data key cached
    elsewhere = FileCustody(custody.path)
    old = elsewhere.current_key_id()
    elsewhere.create_key()
    elsewhere.destroy_key(old)
    with pytest.raises(KeyUnavailableError, match="destroyed"):
        reader.get("held.bin")  # a whole read always unwraps
    now[0] += reader.cache_seconds - 1
    assert reader.get("held.bin", start=1, end=3).read() == b"ra"  # within the bound
    now[0] += 1
    with pytest.raises(KeyUnavailableError, match="destroyed"):
        reader.get("held.bin", start=1, end=3)
    with pytest.raises(KeyUnavailableError, match="destroyed"):
        reader.get("held.bin", start=0, end=2)


def test_plaintext_written_around_it_is_refused(enc: EncryptingStore, raw: Store) -> None:
    raw.put("planted.csv", b"a,b\n1,2\n" * 20)
    with pytest.raises(TamperedDataError, match="not encrypted"):
        enc.get("planted.csv")
    with pytest.raises(TamperedDataError, match="not encrypted"):
        enc.get("planted.csv", start=3)
    with pytest.raises(TamperedDataError, match="not encrypted"):
        enc.head("planted.csv")
    raw.put("short.csv", b"a,b\n")  # no envelope is 4 bytes: the listing names it
    with pytest.raises(TamperedDataError, match=r"'short.csv'.*not the size of any envelope"):
        list(enc.list())


def test_identity_prefix_binds_the_key_below_the_hub_root(
    backend: str, tmp_path: Path, custody: FileCustody
) -> None:
    url = new_store_url(backend, tmp_path, "ident")
    root = EncryptingStore(open_store(url), custody)
    root.put("datasets/x/part.parquet", b"rows")
    view = EncryptingStore(open_store(url + "/datasets"), custody, identity_prefix="datasets")
    assert view.get("x/part.parquet").read() == b"rows"
    wrong = EncryptingStore(open_store(url + "/datasets"), custody)
    with pytest.raises(TamperedDataError):
        wrong.get("x/part.parquet")


class _RecordingStore(StoreWrapper):
    """Records the byte range of every read that reaches the real store."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.reads: list[tuple[int | None, int | None]] = []

    def get(self, key: str, **kw: Any) -> ObjectReader:
        self.reads.append((kw.get("start"), kw.get("end")))
        return super().get(key, **kw)


def test_ranged_reads_use_one_request_once_the_header_is_known(
    raw: Store, custody: FileCustody
) -> None:
    data = _marked(10 * S)
    EncryptingStore(raw, custody).put("p.parquet", data)
    recording = _RecordingStore(raw)
    enc = EncryptingStore(recording, custody)
    assert enc.get("p.parquet", start=len(data) - 8).read() == data[-8:]
    middle = enc.get("p.parquet", start=4 * S + 1, end=4 * S + 9).read()
    assert middle == data[4 * S + 1 : 4 * S + 9]
    assert recording.reads[0] == (0, HEADER_SIZE)  # the header, once
    assert len(recording.reads) == 3
    lo, hi = recording.reads[2]
    assert (hi or 0) - (lo or 0) == S + 16  # one segment for an 8-byte read


def test_overwritten_object_is_read_fresh(enc: EncryptingStore) -> None:
    """A cached header is checked against the object's etag: an overwrite is never
    decrypted with the old key (which would look like tampering)."""
    first, second = _marked(3 * S), os.urandom(3 * S + 1)
    enc.put("o.bin", first)
    assert enc.get("o.bin", start=S, end=S + 10).read() == first[S : S + 10]
    enc.put("o.bin", second)
    assert enc.get("o.bin", start=S, end=S + 10).read() == second[S : S + 10]
    assert enc.get("o.bin", start=3 * S).read() == second[3 * S :]


def test_the_header_cache_is_bounded(raw: Store, custody: FileCustody) -> None:
    recording = _RecordingStore(raw)
    enc = EncryptingStore(recording, custody)
    enc.cache_entries = 3
    objects = {f"k{i}": os.urandom(S + 1 + i) for i in range(5)}
    for key, data in objects.items():
        enc.put(key, data)
    for _ in range(2):
        for key, data in objects.items():
            assert enc.get(key, start=S).read() == data[S:]
    headers = [r for r in recording.reads if r == (0, HEADER_SIZE)]
    assert len(headers) == 10  # five keys cycling through three entries: every read misses
    recording.reads.clear()
    for _ in range(3):
        assert enc.get("k4", start=1, end=2).read() == objects["k4"][1:2]
    assert recording.reads.count((0, HEADER_SIZE)) == 0


def test_concurrent_ranged_reads(enc: EncryptingStore) -> None:
    from concurrent.futures import ThreadPoolExecutor

    data = _marked(8 * S + 3)
    enc.put("c.parquet", data)
    ranges = [(i * 7919 % len(data), 1 + i * 104729 % (2 * S)) for i in range(64)]

    def read(r: tuple[int, int]) -> bool:
        lo, n = r
        return enc.get("c.parquet", start=lo, end=lo + n).read() == data[lo : lo + n]

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(read, ranges))


def test_detailed_listing_shows_only_the_callers_metadata(enc: EncryptingStore) -> None:
    enc.put("l/a.csv", b"x" * 10, metadata={"source": "pmsi"})
    (info,) = enc.list("l", details=True)
    assert info.size == 10
    if info.metadata is not None:  # backends that list metadata (Azure) show the caller's only
        assert dict(info.metadata) == {"source": "pmsi"}


@pytest.mark.parametrize("key", ["../escape", "a//b", "/abs", "nul\x00"])
def test_envelope_operations_refuse_hostile_keys(enc: EncryptingStore, key: str) -> None:
    for call in (
        lambda: enc.rewrap(key, "kek-x"),
        lambda: enc.envelope_info(key),
        lambda: enc.plaintext_digest(key),
    ):
        with pytest.raises(UsageError):
            call()


def test_a_cut_connection_is_transient_not_tampering(raw: Store, custody: FileCustody) -> None:
    """A read cut short by the network is a TruncatedReadError (retried), never reported as
    tampering to the audit hook."""
    from passerelle.errors import TruncatedReadError
    from passerelle.storage.faults import FaultInjectingStore, FaultPlan

    data = os.urandom(5 * S + 11)
    EncryptingStore(raw, custody).put("cut.bin", data)
    refused: list[tuple[str, str, str]] = []
    for seed in range(6):
        faulty = FaultInjectingStore(raw, FaultPlan(seed=seed, truncate=1.0))
        enc = EncryptingStore(faulty, custody, on_refused=lambda *a: refused.append(a))
        with pytest.raises(TruncatedReadError):
            enc.get("cut.bin").read()
        enc.forget_keys()
        with pytest.raises(TruncatedReadError):
            enc.get("cut.bin", start=S - 3, end=4 * S).read()
    assert refused == []


def test_streamed_put_holds_a_bounded_amount_in_memory(enc: EncryptingStore, backend: str) -> None:
    """A 48 MiB streamed put never holds the object (Python-side peak stays under 3 parts)."""
    import tracemalloc

    if backend == "memory":
        pytest.skip("the memory store holds every object in memory by nature")
    block = os.urandom(1 << 20)

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(48):
            yield block

    tracemalloc.start()
    try:
        enc.put("big.bin", chunks(), size=48 << 20, part_size=8 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert enc.head("big.bin").size == 48 << 20
    assert peak < 24 << 20


class _RacingWriter(StoreWrapper):
    """Overwrites the object through ``writer`` just before the next ``times`` metadata
    updates reach the store: between a rewrap's read and its update."""

    def __init__(self, inner: Store, writer: EncryptingStore, times: int = 1) -> None:
        super().__init__(inner)
        self.writer = writer
        self.times = times
        self.written: list[bytes] = []

    def update_metadata(self, key: str, metadata: Mapping[str, str], **kw: Any) -> ObjectInfo:
        if self.times > 0:
            self.times -= 1
            data = f"the concurrent writer's version {len(self.written)}".encode()
            self.writer.put(key, data)
            self.written.append(data)
        return super().update_metadata(key, metadata, **kw)


class _NotSeenTheNewKey:
    """A custody whose writer still wraps under ``key_id`` (it started before the rotation)."""

    def __init__(self, custody: FileCustody, key_id: str) -> None:
        self._custody = custody
        self._key_id = key_id

    def current_key_id(self) -> str:
        return self._key_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._custody, name)


def test_rewrap_racing_a_writer_under_the_old_kek_rewraps_the_new_version(
    raw: Store, custody: FileCustody
) -> None:
    _skip_without_conditional_updates(raw)
    EncryptingStore(raw, custody).put("r.bin", b"first version")
    old = custody.current_key_id()
    new = custody.create_key()
    stale_writer = EncryptingStore(raw, _NotSeenTheNewKey(custody, old))
    racing = _RacingWriter(raw, stale_writer)
    assert EncryptingStore(racing, custody).rewrap("r.bin", new) is True
    reader = EncryptingStore(raw, custody)
    assert reader.get("r.bin").read() == racing.written[0]  # the new content, decryptable
    assert reader.envelope_info("r.bin").key_id == new
    custody.destroy_key(old)  # nothing is left under the old KEK
    assert EncryptingStore(raw, custody).get("r.bin").read() == racing.written[0]


def test_rewrap_racing_a_writer_under_the_new_kek_leaves_its_version(
    raw: Store, custody: FileCustody
) -> None:
    _skip_without_conditional_updates(raw)
    EncryptingStore(raw, custody).put("r.bin", b"first version")
    new = custody.create_key()
    racing = _RacingWriter(raw, EncryptingStore(raw, custody))
    assert EncryptingStore(racing, custody).rewrap("r.bin", new) is False  # already under it
    reader = EncryptingStore(raw, custody)
    assert reader.get("r.bin").read() == racing.written[0]
    assert reader.envelope_info("r.bin").key_id == new


def test_rewrap_gives_up_on_an_object_always_overwritten(raw: Store, custody: FileCustody) -> None:
    _skip_without_conditional_updates(raw)
    EncryptingStore(raw, custody).put("r.bin", b"first version")
    old = custody.current_key_id()
    new = custody.create_key()
    stale_writer = EncryptingStore(raw, _NotSeenTheNewKey(custody, old))
    racing = _RacingWriter(raw, stale_writer, times=UPDATE_ATTEMPTS)
    with pytest.raises(PreconditionFailedError, match="nothing was changed, run it again"):
        EncryptingStore(racing, custody).rewrap("r.bin", new)
    reader = EncryptingStore(raw, custody)
    assert reader.get("r.bin").read() == racing.written[-1]
    assert reader.envelope_info("r.bin").key_id == old


def test_user_metadata_update_racing_a_writer_keeps_its_data_key(
    raw: Store, custody: FileCustody
) -> None:
    _skip_without_conditional_updates(raw)
    EncryptingStore(raw, custody).put("m.bin", b"first version", metadata={"v": "1"})
    racing = _RacingWriter(raw, EncryptingStore(raw, custody))
    EncryptingStore(racing, custody).update_metadata("m.bin", {"v": "2"})
    reader = EncryptingStore(raw, custody)
    assert reader.get("m.bin").read() == racing.written[0]
    assert dict(reader.head("m.bin").metadata or {}) == {"v": "2"}
    stale = reader.head("m.bin").etag
    reader.put("m.bin", b"third version")
    with pytest.raises(PreconditionFailedError):
        reader.update_metadata("m.bin", {"v": "3"}, if_match=stale)
    assert reader.get("m.bin").read() == b"third version"


class _Unconditional(StoreWrapper):
    """A store declaring it cannot update metadata conditionally."""

    @property
    def capabilities(self) -> Capabilities:
        return replace(self.inner.capabilities, conditional_metadata=False)


def test_rewrap_refuses_a_store_without_conditional_updates(
    raw: Store, custody: FileCustody
) -> None:
    EncryptingStore(raw, custody).put("r.bin", b"first version")
    old = custody.current_key_id()
    new = custody.create_key()
    with pytest.raises(UnsupportedOperationError, match="nothing was changed"):
        EncryptingStore(_Unconditional(raw), custody).rewrap("r.bin", new)
    assert EncryptingStore(raw, custody).envelope_info("r.bin").key_id == old


def test_parquet_reads_through_ranges(raw: Store, custody: FileCustody) -> None:
    """pyarrow reads an encrypted Parquet file by ranged gets: same table, and reading one
    column of one row group fetches a fraction of the object."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from passerelle.research.parquet_source import store_filesystem

    n = 200_000
    table = pa.table(
        {
            "person": pa.array(range(n), pa.int64()),
            "cost": pa.array([float(i % 977) for i in range(n)]),
            "note": pa.array([f"stay-{i % 5000}" for i in range(n)]),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=50_000, compression="none")
    EncryptingStore(raw, custody).put("stays/part-0.parquet", buffer.getvalue())
    recording = _RecordingStore(raw)
    fs = store_filesystem(EncryptingStore(recording, custody))
    assert pq.read_table("stays/part-0.parquet", filesystem=fs).equals(table)
    recording.reads.clear()
    with fs.open_input_file("stays/part-0.parquet") as handle:
        one = pq.ParquetFile(handle).read_row_group(2, columns=["cost"])
    assert one.column("cost").to_pylist() == table.column("cost").to_pylist()[100_000:150_000]
    fetched = sum((hi or 0) - (lo or 0) for lo, hi in recording.reads)
    assert fetched < raw.head("stays/part-0.parquet").size / 4
