"""The Swift backend on Ceph RGW's Swift API: large objects, RGW's gaps, hostile input.

The contract suite (test_contract.py) runs on Swift unchanged; these tests check what
is particular to it, observed with a plain swiftclient connection beside the store:
segments live in ``C_segments`` and are never orphaned, RGW's wrong listing sizes and
refused conditional reads of large objects are worked around, and no key reaches the
segments.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import pytest

from passerelle.errors import (
    ConfigError,
    EndpointUnreachableError,
    ObjectNotFoundError,
    PreconditionFailedError,
    UnsupportedOperationError,
    UsageError,
)
from passerelle.keys import FileCustody
from passerelle.storage import open_store
from passerelle.storage.config import load_config
from passerelle.storage.encrypting import EncryptingStore
from passerelle.storage.model import MiB
from passerelle.storage.swift_backend import SwiftStore
from passerelle.storage.swift_client import connection_options, limits_from_info
from passerelle.storage.swift_headers import parse_segment, segment_name
from passerelle.storage.swift_uploads import ChunksFile
from passerelle.storage.urls import parse_store_url
from tests.backends import closed_port, new_store_url, require_backend

PART = MiB


def _swift(url: str) -> SwiftStore:
    store = open_store(url)
    assert isinstance(store, SwiftStore)
    return store


@pytest.fixture
def store(tmp_path: Path) -> SwiftStore:
    return _swift(new_store_url("swift", tmp_path, "sw"))


@pytest.fixture
def observer() -> Any:
    """A plain swiftclient connection to the same account, to see what the store left."""
    require_backend("swift")
    from swiftclient.client import Connection

    return Connection(
        authurl=os.environ["PASSERELLE_TEST_SWIFT_AUTH_URL"],
        user=os.environ["PASSERELLE_TEST_SWIFT_USER"],
        key=os.environ["PASSERELLE_TEST_SWIFT_KEY"],
        retries=0,
    )


def _container(store: SwiftStore) -> str:
    return parse_store_url(store.url).container


def _names(observer: Any, container: str) -> list[str]:
    return [o["name"] for o in observer.get_container(container, full_listing=True)[1]]


def _segments(observer: Any, store: SwiftStore) -> list[str]:
    return _names(observer, _container(store) + "_segments")


def _big(n: int, fill: bytes = b"x") -> bytes:
    return (fill * PART)[:PART] * n + b"tail"


# -- large objects: segments, manifests, no orphans ---------------------------------


def test_a_large_object_is_segments_outside_the_store(store: SwiftStore, observer: Any) -> None:
    data = _big(3)
    result = store.put("big/obj.bin", iter([data]), size=len(data), part_size=PART)
    assert result.parts == 4
    assert [i.key for i in store.list()] == ["big/obj.bin"]  # never a segment
    assert _names(observer, _container(store)) == ["big/obj.bin"]
    segments = _segments(observer, store)
    assert len(segments) == 5  # four parts and the upload's marker
    assert all(s.startswith("big/obj.bin/") for s in segments)
    head = observer.head_object(_container(store), "big/obj.bin")
    assert head.get("x-static-large-object", "").lower() == "true"


def test_rgw_listing_sizes_of_large_objects_are_corrected(store: SwiftStore, observer: Any) -> None:
    """RGW lists an SLO with its manifest's size (or 0); the store lists the object's."""
    data = _big(2)
    store.put("slo.bin", iter([data]), size=len(data), part_size=PART, metadata={"k": "v"})
    store.put("empty.bin", b"")
    listed_raw = {o["name"]: o["bytes"] for o in observer.get_container(_container(store))[1]}
    assert listed_raw["slo.bin"] != len(data)  # the gap this works around
    listed = {i.key: i.size for i in store.list()}
    assert listed == {"slo.bin": len(data), "empty.bin": 0}
    assert {o.key: o.size for o in store.list_dir().objects} == listed
    info = store.head("slo.bin")
    assert info.size == len(data) and info.metadata == {"k": "v"}  # RGW's SLO flag hidden


def test_ranged_and_conditional_reads_of_a_large_object(store: SwiftStore) -> None:
    data = b"".join(bytes([i]) * PART for i in range(3))
    store.put("r.bin", iter([data]), size=len(data), part_size=PART)
    across = store.get("r.bin", start=PART - 2, end=PART + 2).read()
    assert across == data[PART - 2 : PART + 2]
    etag = store.head("r.bin").etag
    assert store.get("r.bin", if_match=etag).read() == data  # RGW alone answers 412 here
    store.put("r.bin", b"small now")
    with pytest.raises(PreconditionFailedError):
        store.get("r.bin", if_match=etag)


def test_overwrite_and_delete_leave_no_orphan_segments(store: SwiftStore, observer: Any) -> None:
    first, second = _big(2, b"a"), _big(3, b"b")
    store.put("o.bin", iter([first]), size=len(first), part_size=PART)
    store.put("o.bin", iter([second]), size=len(second), part_size=PART)
    assert store.get("o.bin").read() == second
    assert len(_segments(observer, store)) == 5  # only the second version's (4 + marker)
    store.put("o.bin", b"plain again")
    assert _segments(observer, store) == []
    store.put("o.bin", iter([first]), size=len(first), part_size=PART)
    store.delete("o.bin")
    assert _segments(observer, store) == []
    assert list(store.list_uploads()) == []


def test_copy_of_a_large_object_owns_its_segments(store: SwiftStore) -> None:
    """RGW's COPY of an SLO shares the source's segments; the store copies the bytes."""
    data = _big(2)
    store.put("src.bin", iter([data]), size=len(data), part_size=PART, metadata={"o": "1"})
    store.copy("src.bin", "dst.bin")
    store.delete("src.bin")
    assert store.get("dst.bin").read() == data
    assert (store.head("dst.bin").metadata or {}) == {"o": "1"}


def test_metadata_update_keeps_a_large_object_whole(store: SwiftStore) -> None:
    data = _big(2)
    store.put("m.bin", iter([data]), size=len(data), part_size=PART, content_type="text/csv")
    info = store.update_metadata("m.bin", {"passerelle_sha256": "ab" * 32})
    assert info.metadata == {"passerelle_sha256": "ab" * 32}
    assert info.content_type == "text/csv"
    assert store.get("m.bin").read() == data
    store.delete("m.bin")  # its segments are still found after the POST
    assert list(store.list_uploads()) == []


def test_dynamic_large_objects_where_asked(tmp_path: Path, observer: Any) -> None:
    url = new_store_url("swift", tmp_path, "dlo").replace("swift://swift@", "swift://swift-dlo@")
    store = _swift(url)
    data = _big(2)
    store.put("d.bin", iter([data]), size=len(data), part_size=PART, metadata={"k": "v"})
    head = observer.head_object(_container(store), "d.bin")
    assert "x-object-manifest" in head and "x-static-large-object" not in head
    assert store.get("d.bin").read() == data
    assert store.get("d.bin", start=PART - 1, end=PART + 1).read() == data[PART - 1 : PART + 1]
    assert {i.key: i.size for i in store.list()} == {"d.bin": len(data)}
    store.update_metadata("d.bin", {"k": "w"})
    assert store.get("d.bin").read() == data  # the POST kept X-Object-Manifest
    store.put("d.bin", b"plain")
    assert _segments(observer, store) == []


# -- resumable uploads --------------------------------------------------------------


def test_resumable_upload_across_processes_and_cleanup(store: SwiftStore, observer: Any) -> None:
    upload = store.start_upload("u/k.bin", content_type="text/plain", metadata={"v": "1"})
    upload.upload_part(1, b"a" * PART)
    upload.upload_part(2, b"b" * PART)
    found = list(store.list_uploads())
    assert [(u.key, u.upload_id) for u in found] == [("u/k.bin", upload.upload_id)]
    assert found[0].initiated is not None
    again = _swift(store.url).resume_upload("u/k.bin", upload.upload_id)  # a new process
    assert [p.number for p in again.parts()] == [1, 2]
    again.upload_part(3, b"c")
    done = again.complete(again.parts())  # metadata from start_upload, kept by the marker
    assert done.size == 2 * PART + 1 and done.parts == 3
    info = store.head("u/k.bin")
    assert info.metadata == {"v": "1"} and info.content_type == "text/plain"
    assert list(store.list_uploads()) == []
    stale = store.start_upload("u/k.bin")
    stale.upload_part(1, b"z")
    assert store.abort_uploads("u/k.bin") == 1
    with pytest.raises(ObjectNotFoundError):
        stale.parts()
    assert store.get("u/k.bin").read() == b"a" * PART + b"b" * PART + b"c"
    store.delete("u/k.bin")
    assert _segments(observer, store) == []


def test_upload_ids_are_checked(store: SwiftStore) -> None:
    for bad in ("../../x", "a" * 31, "", "0" * 32 + "/1"):
        with pytest.raises(UsageError, match="not an upload id"):
            store.resume_upload("k", bad)


# -- hostile input ------------------------------------------------------------------


def test_a_key_shaped_like_a_segment_reaches_no_segment(store: SwiftStore, observer: Any) -> None:
    upload = store.start_upload("k")
    upload.upload_part(1, b"real part")
    forged = segment_name("k", upload.upload_id, 1)
    store.put(forged, b"forged")  # lands in the data container, beside k
    store.put(f"k_segments/{forged}", b"forged too")
    store.delete(f"{forged}")
    assert [p.size for p in upload.parts()] == [len(b"real part")]
    assert [(u.key, u.upload_id) for u in store.list_uploads()] == [("k", upload.upload_id)]
    upload.complete(upload.parts())
    assert store.get("k").read() == b"real part"
    assert sorted(i.key for i in store.list()) == ["k", f"k_segments/{forged}"]


def test_keys_named_like_segment_sets_do_not_confuse_their_listing(store: SwiftStore) -> None:
    """A key ``a/<upload id>`` puts its segments among those of ``a``'s upload."""
    upload = store.start_upload("a")
    hostile = store.start_upload(f"a/{upload.upload_id}")
    upload.upload_part(1, b"1")
    hostile.upload_part(1, b"hostile")
    upload.upload_part(2, b"2")
    assert [p.number for p in upload.parts()] == [1, 2]
    assert [p.size for p in hostile.parts()] == [len(b"hostile")]
    assert len({(u.key, u.upload_id) for u in store.list_uploads()}) == 2
    upload.complete(upload.parts())
    assert store.get("a").read() == b"12"


@pytest.mark.parametrize("remote", ["swift", "swift-dlo"])
@pytest.mark.parametrize(
    "key", ["with space/é ü.bin", "q?mark", "pct%2F..%2Fx", "hash#frag", "plus+&=.bin"]
)
def test_large_objects_with_tricky_keys(
    remote: str, tmp_path: Path, observer: Any, key: str
) -> None:
    url = new_store_url("swift", tmp_path, "tricky")
    store = _swift(url.replace("swift://swift@", f"swift://{remote}@"))
    data = _big(1)
    store.put(key, iter([data]), size=len(data), part_size=PART)
    assert store.get(key).read() == data
    assert [i.key for i in store.list()] == [key]
    store.delete(key)
    assert _segments(observer, store) == []


@pytest.mark.parametrize("name", ["passerelle_segments", "static_large_object"])
def test_reserved_metadata_keys_are_refused(store: SwiftStore, name: str) -> None:
    for call in (
        lambda: store.put("x", b"1", metadata={name: "0" * 32}),
        lambda: store.start_upload("x", metadata={name: "0" * 32}),
    ):
        with pytest.raises(UsageError, match="reserved on Swift"):
            call()
    store.put("x", b"1")
    with pytest.raises(UsageError, match="reserved on Swift"):
        store.update_metadata("x", {name: "0" * 32})


@pytest.mark.parametrize(
    "url",
    [
        "swift://data_segments",
        "swift://swift@data_segments/prefix",
        "swift://a/b/../c",
        "swift://..",
        "swift://-lead",
        "swift://" + "c" * 246,
        "swift://with space",
    ],
)
def test_bad_swift_urls_are_refused(url: str) -> None:
    with pytest.raises(UsageError):  # InvalidURLError, or the key rule for the prefix
        parse_store_url(url)


def test_encrypted_stores_on_swift_refuse_rewrap(store: SwiftStore, tmp_path: Path) -> None:
    custody = FileCustody(tmp_path / "keks" / "keks.json")
    custody.create_key()
    enc = EncryptingStore(store, custody)
    enc.put("r.bin", b"secret")
    new = custody.create_key()
    with pytest.raises(UnsupportedOperationError, match="nothing was changed"):
        enc.rewrap("r.bin", new)
    assert enc.get("r.bin").read() == b"secret"


def test_unreachable_auth_endpoint_is_one_sentence(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[remotes.off]\ntype = "swift"\nauth_url = "http://127.0.0.1:{closed_port()}/auth/1.0"\n'
        'user = "a:b"\nkey = "k"\nmax_retries = 0\n',
        encoding="utf-8",
    )
    store = open_store("swift://off@container", config=load_config(config, env={}))
    with pytest.raises(EndpointUnreachableError, match="Cannot reach the endpoint"):
        list(store.list())


# -- settings (pure) ----------------------------------------------------------------


def test_keystone_settings_reach_swiftclient(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        """
[remotes.ovh]
type = "swift"
auth_url = "https://auth.cloud.ovh.net/v3"
auth_version = 3
user = "u"
key_env = "OS_PASSWORD"
project_name = "p"
user_domain_name = "Default"
project_domain_name = "Default"
region = "gra"
region_name = "GRA"
""",
        encoding="utf-8",
    )
    remote = load_config(config, env={"OS_PASSWORD": "s3cr3t"}).remotes["ovh"]
    options = connection_options(remote)
    assert options["auth_version"] == "3" and options["key"] == "s3cr3t"
    assert options["os_options"] == {
        "project_name": "p",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "region_name": "GRA",
    }
    assert remote.redacted()["key"] == "***"


def test_swift_settings_from_the_environment() -> None:
    config = load_config(
        env={
            "PASSERELLE_CONFIG": "",
            "ST_AUTH": "http://h/auth/1.0",
            "ST_USER": "a:b",
            "ST_KEY": "k",
        }
    )
    remote = config.remote_for("swift", None)
    assert (remote.auth_url, remote.user, remote.key) == ("http://h/auth/1.0", "a:b", "k")
    keystone = load_config(
        env={
            "OS_AUTH_URL": "https://k/v3",
            "OS_USERNAME": "u",
            "OS_PASSWORD": "p",
            "OS_PROJECT_NAME": "pr",
            "OS_REGION_NAME": "GRA",
        }
    ).remote_for("swift", None)
    assert connection_options(keystone)["os_options"]["project_name"] == "pr"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('type = "swift"\nauth_url = "http://h"\nuser = "u"', "No Swift auth_url, user or key"),
        ('type = "swift"\nlarge_objects = "huge"', 'must be "auto", "slo" or "dlo"'),
        ('type = "swift"\nauth_url = "h"\nuser = "u"\nkey = "k"\nauth_version = "9"', "not"),
    ],
)
def test_bad_swift_settings_are_one_sentence(tmp_path: Path, table: str, message: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f"[remotes.bad]\n{table}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        loaded = load_config(config, env={})
        open_store("swift://bad@container", config=loaded)


def test_keystone_without_its_client_is_one_sentence(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[remotes.ks]\ntype = "swift"\nauth_url = "http://127.0.0.1:9/v3"\nauth_version = "3"\n'
        'user = "u"\nkey = "k"\nproject_name = "p"\n',
        encoding="utf-8",
    )
    store = open_store("swift://ks@container", config=load_config(config, env={}))
    with pytest.raises(ConfigError, match="python-keystoneclient"):
        list(store.list())


def test_limits_follow_the_clusters_info() -> None:
    limits = limits_from_info(
        {"swift": {"max_file_size": 1000}, "slo": {"max_manifest_segments": 7}}
    )
    assert (limits.max_single_put, limits.max_part_size, limits.max_parts) == (1000, 1000, 7)
    assert limits.max_object_size == 7000
    assert limits_from_info({"slo": {"min_segment_size": 1048576}}).min_part_size == MiB


def test_segment_names_parse_back_from_the_right() -> None:
    upload = "0123456789abcdef" * 2
    for path in ("k", "a/b/c", "x/" + "f" * 32 + "/00000001", "é ?%#"):
        assert parse_segment(segment_name(path, upload, 12)) == (path, upload, 12)
    for name in ("k", "k/123/00000001", "k/" + upload + "/1", upload + "/00000001"):
        assert parse_segment(name) is None


def test_chunks_file_reads_and_rewinds() -> None:
    body = ChunksFile([b"abc", b"", b"defg", b"h"])
    assert body.read(2) == b"ab" and body.read(3) == b"cde" and body.tell() == 5
    assert body.read() == b"fgh" and body.read(1) == b""
    body.seek(4)
    assert body.read() == b"efgh"
    body.seek(0)
    assert body.read(100) == b"abcdefgh"


def test_a_large_buffer_is_sent_as_segments(store: SwiftStore, observer: Any) -> None:
    data = _big(2)
    result = store.put("buf.bin", data, part_size=PART)
    assert result.parts == 3
    assert store.get("buf.bin").read() == data
    assert len(_segments(observer, store)) == 4


def test_small_objects_make_no_segment_container(store: SwiftStore, observer: Any) -> None:
    from swiftclient.exceptions import ClientException

    store.put("small.txt", b"x")
    store.copy("small.txt", "copy.txt")
    store.delete("small.txt")
    assert list(store.list_uploads()) == []
    with pytest.raises(ClientException) as missing:
        observer.head_container(_container(store) + "_segments")
    assert missing.value.http_status == 404


@pytest.mark.parametrize(
    ("status", "body", "kind", "words"),
    [
        (401, b"", "AuthenticationError", "rejected the credentials"),
        (403, b"AccessDenied", "PermissionDeniedError", "Permission denied to read"),
        (404, b"NoSuchBucket", "ContainerNotFoundError", "does not exist"),
        (404, b"NoSuchKey", "ObjectNotFoundError", "No object at"),
        (412, b"", "PreconditionFailedError", "changed"),
        (416, b"", "UsageError", "outside the object"),
        (422, b"", "ServiceError", "try again later"),
        (429, b"", "ThrottledError", "kept throttling"),
        (498, b"", "ThrottledError", "kept throttling"),
        (503, b"", "ThrottledError", "kept throttling"),
        (500, b"", "ServiceError", "try again later"),
        (418, b"teapot", "TerminalError", "status 418"),
    ],
)
def test_swift_statuses_become_one_sentence(
    status: int, body: bytes, kind: str, words: str
) -> None:
    from swiftclient.exceptions import ClientException

    from passerelle.storage.swift_client import swift_error

    exc = ClientException("Object GET failed", http_status=status, http_response_content=body)
    error = swift_error(exc, url="swift://r@c", op="read", key="k")
    assert type(error).__name__ == kind
    assert words in str(error) and "\n" not in str(error)


def test_an_openstack_auth_url_names_its_provider_and_region(tmp_path: Path) -> None:
    from passerelle.providers import load_profiles
    from passerelle.storage.opener import store_location

    config = tmp_path / "c.toml"
    config.write_text(
        '[remotes.ovh]\ntype = "swift"\nauth_url = "https://auth.cloud.ovh.net/v3"\n'
        'auth_version = "3"\nuser = "u"\nkey = "k"\nproject_name = "p"\nregion = "gra"\n'
        'region_name = "GRA"\n'
        '[remotes.liar]\ntype = "swift"\nauth_url = "https://auth.cloud.ovh.net/v3"\n'
        'user = "u"\nkey = "k"\nprovider = "aws"\n',
        encoding="utf-8",
    )
    loaded = load_config(config, env={})
    provider, region = store_location("swift://ovh@hdh-raw", loaded)
    assert (provider, region) == ("ovhcloud", "gra")  # the profile's spelling, checked as is
    found = load_profiles()["ovhcloud"].region(region)
    assert found is not None and found.country == "FR"
    assert load_profiles()["ovhcloud"].region("GRA") is None  # hence region_name for Keystone
    with pytest.raises(ConfigError, match="ovhcloud's"):  # a declared provider is checked
        store_location("swift://liar@hdh-raw", loaded)


def test_swift_urls_parse_and_print_back() -> None:
    parsed = parse_store_url("swift://ovh@Hdh_Raw.2026/extracts/a b")
    assert (parsed.scheme, parsed.remote, parsed.container, parsed.prefix) == (
        "swift",
        "ovh",
        "Hdh_Raw.2026",
        "extracts/a b",
    )
    assert str(parsed) == "swift://ovh@Hdh_Raw.2026/extracts/a b"
    assert parse_store_url("SWIFT://c").scheme == "swift"


class _CuttingProxy:
    """A loopback TCP forwarder to RGW that cuts the answer to the first GET of a path
    after ``limit`` bytes: a connection broken mid-body, as a real network breaks it."""

    def __init__(self, upstream: tuple[str, int], path: bytes, limit: int) -> None:
        import socket
        import threading

        self._upstream = upstream
        self._path = path
        self._limit = limit
        self._cut_done = False
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stop = True
        self._server.close()

    def _accept(self) -> None:
        import socket
        import threading

        while not self._stop:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            state = {"cut": False}
            threading.Thread(target=self._up, args=(client, upstream, state), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client, state), daemon=True).start()

    def _up(self, client: Any, upstream: Any, state: dict[str, bool]) -> None:
        try:
            while data := client.recv(65536):
                with self._lock:
                    if not self._cut_done and data.startswith(b"GET ") and self._path in data:
                        self._cut_done = state["cut"] = True
                upstream.sendall(data)
        except OSError:
            pass

    def _down(self, upstream: Any, client: Any, state: dict[str, bool]) -> None:
        sent = 0
        try:
            while data := upstream.recv(65536):
                if state["cut"]:
                    data = data[: max(0, self._limit - sent)]
                    sent += len(data)
                client.sendall(data)
                if state["cut"] and sent >= self._limit:
                    break
        except OSError:
            pass
        import socket

        for sock in (client, upstream):  # a shutdown is seen at once (FIN), a close may not be
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def test_a_connection_cut_mid_body_is_a_transient_truncated_read(
    store: SwiftStore, tmp_path: Path
) -> None:
    """Also checks ``storage_url``: every data request goes to it, not to auth's URL."""
    from urllib.parse import urlsplit

    from passerelle.errors import TruncatedReadError

    data = os.urandom(3 * PART)
    store.put("big.bin", data)
    auth = urlsplit(os.environ["PASSERELLE_TEST_SWIFT_AUTH_URL"])
    proxy = _CuttingProxy((auth.hostname or "", auth.port or 80), b"/big.bin", 300_000)
    try:
        config = tmp_path / "c.toml"
        config.write_text(
            f'[remotes.via]\ntype = "swift"\nauth_url = "{auth.geturl()}"\n'
            f'user = "{os.environ["PASSERELLE_TEST_SWIFT_USER"]}"\n'
            f'key = "{os.environ["PASSERELLE_TEST_SWIFT_KEY"]}"\n'
            f'storage_url = "http://127.0.0.1:{proxy.port}/swift/v1"\nmax_retries = 0\n',
            encoding="utf-8",
        )
        via = open_store(f"swift://via@{_container(store)}", config=load_config(config, env={}))
        reader = via.get("big.bin", chunk_size=64 * 1024)
        with pytest.raises(TruncatedReadError, match="try again") as caught:
            reader.read()
        assert caught.value.retryable
        assert via.get("big.bin").read() == data  # the next read goes whole, via the proxy
    finally:
        proxy.close()


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk-delete", "one-by-one"])
def test_segments_are_deleted_with_or_without_bulk_delete(
    store: SwiftStore, observer: Any, bulk: bool
) -> None:
    info = dict(observer.get_capabilities())
    assert "bulk_delete" in info  # RGW offers it; a cluster without it is played below
    if not bulk:
        info.pop("bulk_delete")
    store._session._info = info  # the cluster's /info as this store read it
    data = _big(4)
    store.put("many.bin", iter([data]), size=len(data), part_size=PART)
    assert len(_segments(observer, store)) == 6
    store.delete("many.bin")
    assert _segments(observer, store) == []
