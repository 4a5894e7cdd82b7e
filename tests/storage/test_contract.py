"""The storage contract, run identically against every backend.

memory, file, Azurite (Azure Blob), Ceph RGW and SeaweedFS (S3) and Ceph RGW's Swift API
(OpenStack Object Storage) must all pass, and so
must the encrypting store over memory and over Ceph RGW (``memory+encrypted``,
``ceph+encrypted``): it skips only the tests of capabilities it declares absent.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from passerelle.errors import (
    AuthenticationError,
    ContainerNotFoundError,
    ObjectNotFoundError,
    PreconditionFailedError,
    UsageError,
)
from passerelle.keys import FileCustody
from passerelle.storage import Store, open_store
from passerelle.storage.encrypting import EncryptingStore
from passerelle.storage.model import MiB
from tests.backends import (
    ALL_BACKENDS,
    REMOTE_OF,
    SCHEME_OF,
    SERVER_BACKENDS,
    new_store_url,
    require_backend,
    unique_name,
)
from tests.cli.test_storage_commands import run_cli

TRICKY_KEYS = [
    "with space/file name.txt",
    "plus+sign.csv",
    "percent%20literal.txt",
    "hash#fragment.txt",
    "question?mark.txt",
    "accents/éèàç-ü.txt",
    "日本語/データ.bin",
    "deep/" + "/".join(f"level{i}" for i in range(12)) + "/leaf.txt",
    "dots.in.name..ext",
    "equals=and&amp.txt",
]

ENCRYPTED_ON = ("memory", "ceph")
STORE_KINDS = (*ALL_BACKENDS, *(f"{b}+encrypted" for b in ENCRYPTED_ON))


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A fresh empty store on each backend, then the encrypting store over two of them."""
    backend, _, layer = str(request.param).partition("+")
    plain = open_store(new_store_url(backend, tmp_path))
    if not layer:
        return plain
    custody = FileCustody(tmp_path / "keks.json")
    custody.create_key()
    return EncryptingStore(plain, custody)


def skip_if_declared_absent(store: Store, capability: str, why: str) -> None:
    """Skip on the encrypting store when it declares ``capability`` absent (only there)."""
    if isinstance(store, EncryptingStore) and not getattr(store.capabilities, capability):
        pytest.skip(f"EncryptingStore declares {capability} absent: {why}")


def test_put_get_roundtrip(store: Store) -> None:
    result = store.put("a/b/hello.txt", b"hello, world", content_type="text/plain")
    assert result.size == 12
    reader = store.get("a/b/hello.txt")
    assert reader.read() == b"hello, world"
    assert reader.info.size == 12


def test_head_reports_size_etag_date_and_type(store: Store) -> None:
    store.put("x.csv", b"a,b\n1,2\n", content_type="text/csv")
    info = store.head("x.csv")
    assert info.key == "x.csv"
    assert info.size == 8
    assert info.etag
    assert info.last_modified is not None
    assert info.content_type == "text/csv"


def test_user_metadata_roundtrips(store: Store) -> None:
    meta = {
        "passerelle_sha256": "ab" * 32,
        "md5chksum": "rL0Y20zC+Fzt72VPzMSk2A==",
        "source": "pmsi",
    }
    store.put("m.bin", b"\x00\x01\x02", metadata=meta, content_type="application/octet-stream")
    assert dict(store.head("m.bin").metadata or {}) == meta
    assert dict(store.get("m.bin").info.metadata or {}) == meta


def test_metadata_keys_must_be_portable(store: Store) -> None:
    with pytest.raises(UsageError, match="not portable"):
        store.put("bad.bin", b"x", metadata={"has-hyphen": "v"})


def test_empty_object(store: Store) -> None:
    store.put("empty", b"")
    assert store.head("empty").size == 0
    assert store.get("empty").read() == b""


def test_overwrite_replaces_content_and_metadata(store: Store) -> None:
    store.put("o.txt", b"first version", metadata={"v": "1"})
    store.put("o.txt", b"second", metadata={"v": "2"})
    assert store.get("o.txt").read() == b"second"
    assert (store.head("o.txt").metadata or {}).get("v") == "2"


def test_not_found(store: Store) -> None:
    with pytest.raises(ObjectNotFoundError, match="No object at"):
        store.head("missing/key")
    with pytest.raises(ObjectNotFoundError):
        store.get("missing/key")


def test_delete_is_idempotent(store: Store) -> None:
    store.put("d.txt", b"bye")
    store.delete("d.txt")
    with pytest.raises(ObjectNotFoundError):
        store.head("d.txt")
    store.delete("d.txt")


@pytest.mark.parametrize("key", TRICKY_KEYS, ids=range(len(TRICKY_KEYS)))
def test_tricky_keys_roundtrip_and_list(store: Store, key: str) -> None:
    data = key.encode()
    store.put(key, data)
    assert store.get(key).read() == data
    assert store.head(key).size == len(data)
    assert [i.key for i in store.list()] == [key]


@pytest.mark.parametrize(
    "key", ["../escape", "a/../../b", "/abs", "a//b", "./a", "a/./b", "nul\x00"]
)
def test_path_tricks_are_refused(store: Store, key: str) -> None:
    with pytest.raises(UsageError):
        store.put(key, b"x")
    with pytest.raises(UsageError):
        store.get(key)


def test_ranged_reads(store: Store) -> None:
    data = bytes(range(256)) * 40
    store.put("r.bin", data)
    assert store.get("r.bin", start=10, end=20).read() == data[10:20]
    assert store.get("r.bin", start=len(data) - 5).read() == data[-5:]
    assert store.get("r.bin", start=0, end=1).read() == data[:1]
    with pytest.raises(UsageError):
        store.get("r.bin", start=5, end=5)


def test_conditional_read_detects_change(store: Store) -> None:
    if not store.capabilities.conditional_get:
        pytest.fail("every backend in the suite declares conditional_get")
    store.put("c.txt", b"v1")
    etag = store.head("c.txt").etag
    assert store.get("c.txt", if_match=etag).read() == b"v1"
    store.put("c.txt", b"v2 is longer")
    with pytest.raises(PreconditionFailedError):
        store.get("c.txt", if_match=etag).read()


def test_list_dir_shows_one_level(store: Store) -> None:
    for key in ("top.txt", "a/one.txt", "a/two.txt", "b/c/deep.txt"):
        store.put(key, b"x")
    listing = store.list_dir()
    assert listing.prefixes == ("a", "b")
    assert [o.key for o in listing.objects] == ["top.txt"]
    sub = store.list_dir("a")
    assert [o.key for o in sub.objects] == ["a/one.txt", "a/two.txt"]


def test_list_prefix_is_folder_like(store: Store) -> None:
    for key in ("data/x", "data/y/z", "database/w"):
        store.put(key, b"1")
    assert sorted(i.key for i in store.list("data")) == ["data/x", "data/y/z"]


def test_list_start_after_lists_only_later_keys(store: Store) -> None:
    for n in (1, 2, 3, 10, 11):
        store.put(f"cp/{n:012d}.json", b"{}")
    store.put("cq/after.json", b"x")
    later = [i.key for i in store.list("cp", start_after=f"cp/{2:012d}.json")]
    assert sorted(later) == [f"cp/{n:012d}.json" for n in (3, 10, 11)]
    assert list(store.list("cp", start_after=f"cp/{11:012d}.json")) == []
    # a point between keys, and one before the prefix: S3's StartAfter, never wider
    assert sorted(i.key for i in store.list("cp", start_after="cp/000000000005")) == [
        f"cp/{n:012d}.json" for n in (10, 11)
    ]
    assert len(list(store.list("cp", start_after="a"))) == 5


def test_list_start_after_in_a_store_rooted_at_a_prefix(backend: str, tmp_path: Path) -> None:
    url = new_store_url(backend, tmp_path)
    root = open_store(url)
    for key in ("inner/a", "inner/b", "inner/c", "outer/z"):
        root.put(key, b"v")
    nested = open_store(url + "/inner")
    assert sorted(i.key for i in nested.list(start_after="a")) == ["b", "c"]


def test_store_rooted_at_prefix_sees_relative_keys(backend: str, tmp_path: Path) -> None:
    url = new_store_url(backend, tmp_path)
    if backend == "file":
        root = open_store(url)
        root.put("inner/k.txt", b"v")
        nested = open_store(url + "/inner")
    else:
        root = open_store(url)
        root.put("inner/k.txt", b"v")
        nested = open_store(url + "/inner")
    assert [i.key for i in nested.list()] == ["k.txt"]
    assert nested.get("k.txt").read() == b"v"


def test_server_side_copy_keeps_metadata(store: Store) -> None:
    skip_if_declared_absent(
        store, "server_side_copy", "its copy decrypts and encrypts again under the new key"
    )
    assert store.capabilities.server_side_copy
    store.put("src.txt", b"copy me", metadata={"origin": "x"}, content_type="text/plain")
    store.copy("src.txt", "dst/copy.txt")
    assert store.get("dst/copy.txt").read() == b"copy me"
    assert (store.head("dst/copy.txt").metadata or {}).get("origin") == "x"


def test_streamed_put_from_chunks(store: Store) -> None:
    chunks = [os.urandom(1000) for _ in range(7)]
    result = store.put("s.bin", iter(chunks), size=7000)
    assert result.size == 7000
    assert store.get("s.bin").read() == b"".join(chunks)


@pytest.mark.slow
def test_multipart_object_over_100_mb(store: Store) -> None:
    part = 8 * MiB
    block = os.urandom(MiB)
    total = 105 * MiB
    expected = hashlib.sha256()

    def chunks():  # type: ignore[no-untyped-def]
        for i in range(total // MiB):
            piece = block[i:] + block[:i]
            expected.update(piece)
            yield piece

    result = store.put(
        "big/object.bin", chunks(), size=total, part_size=part, metadata={"kind": "big"}
    )
    assert result.size == total
    if store.capabilities.multipart_upload:
        assert result.parts == -(-total // part)
    info = store.head("big/object.bin")
    assert info.size == total
    assert (info.metadata or {}).get("kind") == "big"
    got = hashlib.sha256()
    received = 0
    for chunk in store.get("big/object.bin", chunk_size=4 * MiB):
        got.update(chunk)
        received += len(chunk)
    assert received == total
    assert got.hexdigest() == expected.hexdigest()
    middle = store.get("big/object.bin", start=50 * MiB - 3, end=50 * MiB + 3).read()
    whole_offset = 50 * MiB - 3
    i, off = divmod(whole_offset, MiB)
    assert middle[:3] == (block[i:] + block[:i])[off : off + 3]


@pytest.fixture(scope="module")
def big_listing(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    cache: dict[str, tuple[str, list[str]]] = {}

    def make(backend: str) -> tuple[str, list[str]]:
        if backend not in cache:
            url = new_store_url(backend, tmp_path_factory.mktemp("listing"), "list")
            store = open_store(url)
            keys = [f"p{i % 7}/sub{i % 3}/obj-{i:05d}.txt" for i in range(2600)]
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda k: store.put(k, k.encode()), keys))
            cache[backend] = (url, sorted(keys))
        return cache[backend]

    return make


@pytest.mark.slow
def test_listing_over_2500_keys_pages_and_prefixes(backend: str, big_listing) -> None:  # type: ignore[no-untyped-def]
    url, keys = big_listing(backend)
    store = open_store(url)
    listed = sorted(i.key for i in store.list(page_size=500))
    assert listed == keys
    assert len(listed) == 2600
    under = sorted(i.key for i in store.list("p3"))
    assert under == [k for k in keys if k.startswith("p3/")]
    assert store.list_dir().prefixes == tuple(f"p{i}" for i in range(7))
    assert store.list_dir("p0").prefixes == ("p0/sub0", "p0/sub1", "p0/sub2")
    if store.capabilities.persistent:  # a memory store lives in this process only
        proc = run_cli("ls", "--recursive", url)
        assert proc.returncode == 0, proc.stderr
        assert sorted(proc.stdout.splitlines()) == keys


@pytest.mark.parametrize("server", list(SERVER_BACKENDS))
def test_wrong_credentials_are_named(server: str, tmp_path: Path) -> None:
    url = new_store_url(server, tmp_path)
    container = url.split("@", 1)[1]
    scheme = url.split("://", 1)[0]
    remote = f"{REMOTE_OF[server]}-badkey"
    bad = open_store(f"{scheme}://{remote}@{container}")
    with pytest.raises(AuthenticationError, match="rejected the credentials"):
        list(bad.list())
    with pytest.raises(AuthenticationError):
        bad.put("x", b"y")


@pytest.mark.parametrize("server", list(SERVER_BACKENDS))
def test_missing_container_is_named(server: str) -> None:
    require_backend(server)
    store = open_store(f"{SCHEME_OF[server]}://{REMOTE_OF[server]}@{unique_name('nobucket')}")
    with pytest.raises(ContainerNotFoundError, match="does not exist"):
        list(store.list())


def test_local_upload_temp_names_are_reserved(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    with pytest.raises(UsageError, match="reserve for uploads in progress"):
        store.put("report#2", b"x")


def test_missing_folder_is_named(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/nowhere")
    with pytest.raises(ContainerNotFoundError, match="does not exist"):
        list(store.list())
    store.create_container()
    assert list(store.list()) == []


def test_update_metadata_in_place(store: Store) -> None:
    store.put("u.csv", b"a,b\n", content_type="text/csv", metadata={"v": "1"})
    info = store.update_metadata("u.csv", {"v": "2", "passerelle_sha256": "ff" * 32})
    assert dict(info.metadata or {}) == {"v": "2", "passerelle_sha256": "ff" * 32}
    assert info.content_type == "text/csv"
    assert store.get("u.csv").read() == b"a,b\n"
    with pytest.raises(ObjectNotFoundError):
        store.update_metadata("missing.csv", {"v": "1"})


def test_update_metadata_with_a_stale_etag_changes_nothing(store: Store) -> None:
    # Swift's POST ignores If-Match: it declares conditional_metadata absent, yet a stale
    # etag is still refused (a HEAD first); only the race with a writer stays open there.
    if not store.capabilities.conditional_metadata and not store.url.startswith("swift://"):
        pytest.fail("every backend but Swift declares conditional_metadata")
    store.put("m.csv", b"v1", content_type="text/csv", metadata={"v": "1"})
    stale = store.head("m.csv").etag
    assert stale is not None
    store.put("m.csv", b"v2 is longer", content_type="text/csv", metadata={"v": "2"})
    current = store.head("m.csv")
    assert current.etag != stale
    with pytest.raises(PreconditionFailedError):
        store.update_metadata("m.csv", {"v": "stale"}, if_match=stale)
    after = store.head("m.csv")
    assert dict(after.metadata or {}) == {"v": "2"}
    assert after.etag == current.etag
    assert store.get("m.csv").read() == b"v2 is longer"
    info = store.update_metadata("m.csv", {"v": "3"}, if_match=current.etag)
    assert dict(info.metadata or {}) == {"v": "3"}
    assert info.content_type == "text/csv"
    assert store.get("m.csv").read() == b"v2 is longer"
    with pytest.raises(ObjectNotFoundError):
        store.update_metadata("missing.csv", {"v": "1"}, if_match=current.etag)


def test_abort_uploads_of_a_key_without_uploads_is_zero(store: Store) -> None:
    store.put("done.bin", b"x")
    assert store.abort_uploads("done.bin") == 0
    assert store.get("done.bin").read() == b"x"


def test_failed_streamed_put_leaves_nothing_visible(store: Store) -> None:
    def broken():  # type: ignore[no-untyped-def]
        yield os.urandom(6 * MiB)
        yield os.urandom(6 * MiB)
        raise RuntimeError("the source connection dropped")

    with pytest.raises(RuntimeError, match="dropped"):
        store.put("half.bin", broken(), size=20 * MiB, part_size=5 * MiB)
    with pytest.raises(ObjectNotFoundError):
        store.head("half.bin")
    with pytest.raises(UsageError, match="nothing was written"):
        store.put("short.bin", iter([b"x" * (6 * MiB)] * 2), size=20 * MiB, part_size=5 * MiB)
    with pytest.raises(ObjectNotFoundError):
        store.head("short.bin")
    assert [i.key for i in store.list()] == []


# -- hostile keys: every backend and every wrapper refuses them before any request --

HOSTILE_KEYS = [
    "",
    "../escape",
    "a/../../b",
    "..",
    ".",
    "a/..",
    "./a",
    "a/./b",
    "/abs",
    "//double",
    "a//b",
    "dir/",
    "a\\b",
    "..\\..\\escape",
    "nul\x00byte",
    "new\nline",
    "carriage\rreturn",
    "tab\tkey",
    "del\x7fkey",
    "nel\x85key",
    "bidi\u202egnp.exe",
    "isolate\u2066x",
    "line\u2028sep",
    "lone\ud800surrogate",
    "k" * 1025,
    "é" * 513,
]
HOSTILE_PREFIXES = ["..", "../", "a/..", "/abs", "/", "a//b", "a\\b", "x\x00", "x\n/"]
WRAPPERS = ("bare", "live", "limited", "faults", "encrypting")


class _Probe:
    """Counts every time a wrapper goes past its key check (route lookups, tokens, faults)."""

    def __init__(self) -> None:
        self.calls = 0

    def touch(self) -> None:
        self.calls += 1


class _ProbedCustody(FileCustody):
    """A real key file that counts every use of a KEK."""

    def __init__(self, path: Path, probe: _Probe) -> None:
        super().__init__(path)
        self.create_key()
        self.probe = probe

    def current_key_id(self) -> str:
        self.probe.touch()
        return super().current_key_id()

    def wrap(self, key_id: str, data_key: bytes, context: bytes) -> bytes:
        self.probe.touch()
        return super().wrap(key_id, data_key, context)

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        self.probe.touch()
        return super().unwrap(key_id, wrapped, context)


def _wrapped(kind: str, inner: Store, probe: _Probe, tmp_path: Path) -> Store:
    if kind == "bare":
        return inner
    if kind == "encrypting":
        keys = tmp_path.with_name(tmp_path.name + "-keks") / "keks.json"  # not beside the store
        return EncryptingStore(inner, _ProbedCustody(keys, probe))
    if kind == "live":
        from passerelle.live.live_store import LiveRoute, LiveStore

        def resolve() -> LiveRoute:
            probe.touch()
            return LiveRoute(inner, None, (inner,))

        return LiveStore(resolve, lambda *_: probe.touch())
    if kind == "limited":
        from passerelle.migration.limits import LimitedStore, TokenBucket

        def clock() -> float:
            probe.touch()
            return 0.0

        return LimitedStore(inner, requests=TokenBucket(1000.0, clock=clock))
    from passerelle.storage.faults import FaultInjectingStore, FaultPlan

    return FaultInjectingStore(inner, FaultPlan(seed=1, transient=1.0))


def _operations(store: Store, key: str) -> dict[str, Callable[[], object]]:
    """Every operation that takes a key, as thunks (copy both ways, uploads, metadata)."""
    return {
        "put": lambda: store.put(key, b"x"),
        "put-stream": lambda: store.put(key, iter([b"x"]), size=1),
        "get": lambda: store.get(key).read(),
        "head": lambda: store.head(key),
        "delete": lambda: store.delete(key),
        "copy-to": lambda: store.copy("ok.txt", key),
        "copy-from": lambda: store.copy(key, "copied.txt"),
        "update_metadata": lambda: store.update_metadata(key, {"v": "1"}),
        "start_upload": lambda: store.start_upload(key),
        "resume_upload": lambda: store.resume_upload(key, "an-upload-id"),
        "abort_uploads": lambda: store.abort_uploads(key),
    }


def _lister(store: Store, prefix: str) -> Callable[[], object]:
    return lambda: list(store.list(prefix))


def _dir_lister(store: Store, prefix: str) -> Callable[[], object]:
    return lambda: store.list_dir(prefix)


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_hostile_keys_are_refused_by_every_operation(
    backend: str, wrapper: str, tmp_path: Path
) -> None:
    url = new_store_url(backend, tmp_path)
    inner = open_store(url)
    inner.put("ok.txt", b"fine")
    probe = _Probe()
    store = _wrapped(wrapper, inner, probe, tmp_path)
    probe.calls = 0  # building a token bucket reads its clock once
    wrong: list[str] = []
    calls = [
        (f"{op}({key!r})", call)
        for key in HOSTILE_KEYS
        for op, call in _operations(store, key).items()
    ]
    calls += [(f"list({p!r})", _lister(store, p)) for p in HOSTILE_PREFIXES]
    calls += [(f"list_dir({p!r})", _dir_lister(store, p)) for p in HOSTILE_PREFIXES]
    for label, call in calls:
        try:
            call()
        except UsageError:
            continue
        except Exception as exc:  # any other outcome is a hole: name it
            wrong.append(f"{label} raised {type(exc).__name__}: {exc}")
        else:
            wrong.append(f"{label} was accepted")
    assert wrong == []
    assert probe.calls == 0, "a wrapper acted (routed, paced or faulted) before checking the key"
    assert [i.key for i in inner.list()] == ["ok.txt"]
    if backend == "file":
        root = Path(url.removeprefix("file://"))
        assert sorted(os.listdir(root.parent)) == [root.name]  # nothing beside the store
        assert [str(p.relative_to(root)) for p in root.rglob("*")] == ["ok.txt"]


LONGEST_KEY = "/".join(["s" * 200] * 5) + "/" + "é" * 9 + "e"
"""Exactly 1024 bytes of UTF-8, in segments every file system accepts."""


@pytest.mark.parametrize(
    "key",
    [
        LONGEST_KEY,
        "a/%2e%2e/%2e%2e/literal",
        "a/.../b",
        ".hidden/..ext",
        "espace et accents/é à ü/ß.txt",
    ],
    ids=["1024-bytes", "percent-dots", "three-dots", "dot-names", "unicode"],
)
def test_legitimate_edge_keys_still_work(store: Store, key: str) -> None:
    store.put(key, b"kept")
    assert store.get(key).read() == b"kept"
    assert [i.key for i in store.list()] == [key]
    store.copy(key, "copy")
    store.delete(key)
    assert [i.key for i in store.list()] == ["copy"]
