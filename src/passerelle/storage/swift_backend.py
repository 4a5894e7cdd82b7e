"""The Swift backend: a :class:`~passerelle.storage.base.Store` over python-swiftclient.

A store is one container (plus an optional prefix) of an OpenStack Object Storage
account, tested against Ceph RGW's Swift API.  Large objects are segments and a
manifest (:mod:`passerelle.storage.swift_uploads`).  What Swift cannot do is declared,
not faked: no metadata update conditional on an etag (Swift's POST ignores
``If-Match``), so ``conditional_metadata`` is off.  Conditional reads are checked
against the etag of the very response being read, because RGW answers 412 to
``If-Match`` on a large object even with its own etag.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from passerelle.errors import (
    ObjectNotFoundError,
    PreconditionFailedError,
    TruncatedReadError,
    UsageError,
)
from passerelle.storage.base import ObjectReader, PutData, ResumableUpload
from passerelle.storage.config import RemoteConfig
from passerelle.storage.keys import check_key, check_prefix
from passerelle.storage.metadata import validate_attributes
from passerelle.storage.model import (
    Capabilities,
    IncompleteUpload,
    Listing,
    ObjectInfo,
    PartLimits,
    PutResult,
    UploadedPart,
)
from passerelle.storage.multipart import DEFAULT_PART_SIZE, choose_part_size
from passerelle.storage.swift_client import SWIFT_DEFAULT_LIMITS, SwiftSession, limits_from_info
from passerelle.storage.swift_headers import (
    SEGMENTS_HEADER,
    info_from_headers,
    is_manifest_entry,
    object_headers,
    parse_stamp,
    quoted_etag,
)
from passerelle.storage.swift_uploads import LargeObjects, SwiftUpload

__all__ = ["SWIFT_CAPABILITIES", "SwiftStore"]

SWIFT_CAPABILITIES = Capabilities(
    server_side_copy=True,
    user_metadata=True,
    conditional_get=True,
    create_container=True,
    multipart_upload=True,
    resumable_upload=True,
    conditional_metadata=False,
)
_LARGE_HEADERS = ("x-static-large-object", "x-object-manifest")


class SwiftStore:
    """A store rooted at ``swift://[remote@]container[/prefix]``."""

    def __init__(
        self,
        url: str,
        remote: RemoteConfig,
        container: str,
        *,
        prefix: str = "",
        provider: str | None = None,
    ) -> None:
        self._url = url
        self._container = container
        self._prefix = prefix.strip("/")
        self._provider = provider
        self._session = SwiftSession(remote, url)
        self._large = LargeObjects(self._session, url, container, remote.large_objects)

    @property
    def url(self) -> str:
        return self._url

    @property
    def capabilities(self) -> Capabilities:
        return SWIFT_CAPABILITIES

    @property
    def limits(self) -> PartLimits:
        """The cluster's own limits from ``/info`` (read once), else Swift's defaults."""
        info = self._session.info()
        return limits_from_info(info) if info else SWIFT_DEFAULT_LIMITS

    @property
    def provider(self) -> str | None:
        return self._provider

    def __repr__(self) -> str:
        return f"SwiftStore({self._url!r})"

    # -- paths ------------------------------------------------------------------
    def _path(self, key: str) -> str:
        check_key(key)
        return f"{self._prefix}/{key}" if self._prefix else key

    def _list_prefix(self, prefix: str) -> str:
        joined = "/".join(p for p in (self._prefix, check_prefix(prefix)) if p)
        return joined + "/" if joined else ""

    def _relative(self, path: str) -> str:
        return path[len(self._prefix) + 1 :] if self._prefix else path

    def _head_path(self, key: str, path: str) -> dict[str, str]:
        return dict(self._session.call("read", key, lambda c: c.head_object(self._container, path)))

    # -- listing ----------------------------------------------------------------
    def _pages(
        self,
        prefix: str,
        op_key: str | None,
        *,
        delimiter: str | None = None,
        marker: str = "",
        page_size: int = 10_000,
    ) -> Iterator[dict[str, Any]]:
        limit = max(1, min(page_size, 10_000))
        while True:

            def fetch(c: Any, m: str = marker) -> Any:
                return c.get_container(
                    self._container,
                    prefix=prefix or None,
                    marker=m or None,
                    delimiter=delimiter,
                    limit=limit,
                )

            _headers, page = self._session.call("list", op_key, fetch, container=True)
            if not page:
                return
            yield from page
            marker = page[-1].get("name") or page[-1].get("subdir")

    def _entry_info(self, entry: Mapping[str, Any]) -> ObjectInfo:
        key = self._relative(entry["name"])
        if is_manifest_entry(entry):  # RGW lists large objects with a wrong size
            with contextlib.suppress(ObjectNotFoundError):  # deleted since: as listed
                return info_from_headers(key, self._head_path(key, entry["name"]))
        return ObjectInfo(
            key=key,
            size=int(entry["bytes"]),
            etag=quoted_etag(entry.get("hash")),
            last_modified=parse_stamp(entry.get("last_modified")),
            content_type=entry.get("content_type"),
        )

    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 1000,
        details: bool = False,
        start_after: str = "",
    ) -> Iterator[ObjectInfo]:
        list_prefix = self._list_prefix(prefix)
        marker = ""
        if start_after:
            marker = self._path(start_after)
        for entry in self._pages(list_prefix, prefix or None, marker=marker, page_size=page_size):
            if "name" in entry:
                yield self._entry_info(entry)

    def list_dir(self, prefix: str = "") -> Listing:
        list_prefix = self._list_prefix(prefix)
        prefixes: list[str] = []
        objects: list[ObjectInfo] = []
        for entry in self._pages(list_prefix, prefix or None, delimiter="/"):
            if "subdir" in entry:
                prefixes.append(self._relative(entry["subdir"].rstrip("/")))
            else:
                objects.append(self._entry_info(entry))
        return Listing(tuple(sorted(prefixes)), tuple(sorted(objects, key=lambda o: o.key)))

    # -- reads ------------------------------------------------------------------
    def head(self, key: str) -> ObjectInfo:
        return info_from_headers(key, self._head_path(key, self._path(key)))

    def get(
        self,
        key: str,
        *,
        start: int | None = None,
        end: int | None = None,
        if_match: str | None = None,
        chunk_size: int = 8 * 1024 * 1024,
    ) -> ObjectReader:
        path = self._path(key)
        headers: dict[str, str] = {}
        if start is not None or end is not None:
            first = start or 0
            if end is None:
                headers["Range"] = f"bytes={first}-"
            elif end <= first:
                raise UsageError(f"The range [{first}, {end}) of {key!r} is empty or reversed.")
            else:
                headers["Range"] = f"bytes={first}-{end - 1}"
        answer, body = self._session.call(
            "read",
            key,
            lambda c: c.get_object(
                self._container, path, resp_chunk_size=chunk_size, headers=headers
            ),
        )
        info = info_from_headers(key, answer)
        if if_match is not None and quoted_etag(if_match) != info.etag:
            with contextlib.suppress(Exception):
                body.close()
            raise PreconditionFailedError(
                f"{self._url}/{key} changed since its etag {if_match} was read; read it again."
            )
        expected = int(answer.get("content-length", "0"))

        def chunks() -> Iterator[bytes]:
            stream = iter(body)
            received = 0
            while True:
                try:
                    chunk = next(stream, None)
                except Exception as exc:  # the connection broke mid-body: transient
                    raise TruncatedReadError(
                        f"Reading {self._url}/{key} was cut after {received} of {expected} "
                        f"bytes ({type(exc).__name__}); try again."
                    ) from exc
                if chunk is None:
                    return
                received += len(chunk)
                yield chunk

        return ObjectReader(info, chunks(), expected, label=f"{self._url}/{key}")

    # -- writes -----------------------------------------------------------------
    def put(
        self,
        key: str,
        data: PutData,
        *,
        size: int | None = None,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        part_size: int | None = None,
    ) -> PutResult:
        path = self._path(key)
        clean = validate_attributes(metadata, content_type)
        headers = object_headers(clean, content_type)
        limits = self.limits
        if isinstance(data, bytes | bytearray | memoryview):
            size = len(data)
        part = choose_part_size(size or 0, limits, part_size or DEFAULT_PART_SIZE)
        single_limit = min(part, limits.max_single_put)
        if isinstance(data, bytes | bytearray | memoryview):
            payload = bytes(data)
        elif size is not None and size <= single_limit:
            payload = b"".join(data)
        else:
            return self._put_segments(key, path, data, size, part, clean, content_type)
        if size is not None and len(payload) != size:
            raise UsageError(f"{len(payload)} bytes were given for {key!r} but size said {size}.")
        if len(payload) > single_limit:
            return self._put_segments(key, path, [payload], size, part, clean, content_type)
        old = self._large.current_upload(key, path)
        md5 = hashlib.md5(payload, usedforsecurity=False).hexdigest()
        etag = self._session.call(
            "write",
            key,
            lambda c: c.put_object(
                self._container, path, payload, len(payload), etag=md5, headers=headers
            ),
        )
        if old is not None:
            self._large.delete_set(key, path, old)  # it was a large object: no orphan
        return PutResult(key=key, size=len(payload), etag=quoted_etag(etag))

    def _put_segments(
        self,
        key: str,
        path: str,
        chunks: Iterable[bytes],
        size: int | None,
        part: int,
        metadata: dict[str, str],
        content_type: str | None,
    ) -> PutResult:
        """Stream ``chunks`` as segments, then the manifest; any failure removes them."""
        upload = SwiftUpload.start(
            self._large, key, path, content_type=content_type, metadata=metadata
        )
        sent: list[UploadedPart] = []
        pending: list[memoryview] = []
        held = written = 0
        try:
            for chunk in chunks:
                piece = memoryview(chunk if isinstance(chunk, bytes) else bytes(chunk))
                written += len(piece)
                while held + len(piece) >= part:  # a part is sent as the chunks it holds
                    cut = part - held
                    pending.append(piece[:cut])
                    sent.append(upload.upload_chunks(len(sent) + 1, pending))
                    pending, held, piece = [], 0, piece[cut:]
                if piece:
                    pending.append(piece)
                    held += len(piece)
            if held or not sent:
                sent.append(upload.upload_chunks(len(sent) + 1, pending))
            if size is not None and written != size:
                raise UsageError(
                    f"{written} bytes were streamed for {key!r} but size said {size}; "
                    "nothing was written."
                )
            return upload.complete(sent)
        except BaseException:
            with contextlib.suppress(Exception):
                upload.abort()
            raise

    def delete(self, key: str) -> None:
        path = self._path(key)
        old = self._large.current_upload(key, path)
        with contextlib.suppress(ObjectNotFoundError):
            self._session.call("delete", key, lambda c: c.delete_object(self._container, path))
        if old is not None:
            self._large.delete_set(key, path, old)

    def copy(self, src_key: str, dst_key: str) -> None:
        """Server-side COPY for plain objects; a large object is streamed into new segments
        (RGW's COPY of an SLO shares the source's segments, which deleting either breaks)."""
        src, dst = self._path(src_key), self._path(dst_key)
        headers = self._head_path(src_key, src)
        if any(h in headers for h in _LARGE_HEADERS):
            info = info_from_headers(src_key, headers)
            reader = self.get(src_key, if_match=info.etag)
            self.put(
                dst_key,
                iter(reader),
                size=info.size,
                content_type=info.content_type,
                metadata=info.metadata,
            )
            return
        old = self._large.current_upload(dst_key, dst)
        destination = f"/{self._container}/{dst}"
        self._session.call(
            "copy", src_key, lambda c: c.copy_object(self._container, src, destination)
        )
        if old is not None:
            self._large.delete_set(dst_key, dst, old)

    def create_container(self) -> None:
        """Create the data container; its ``_segments`` twin comes with the first large
        object (an account's containers are counted: RGW allows 1000 by default)."""
        self._session.call("create", None, lambda c: c.put_container(self._container))

    def update_metadata(
        self,
        key: str,
        metadata: Mapping[str, str],
        *,
        content_type: str | None = None,
        storage_class: str | None = None,
        if_match: str | None = None,
    ) -> ObjectInfo:
        """POST the new metadata (Swift has no storage classes; ``storage_class`` is ignored).

        ``if_match`` is checked with a HEAD first, which narrows but cannot close the race
        with a writer (hence ``conditional_metadata`` is off)."""
        path = self._path(key)
        clean = validate_attributes(metadata, content_type)
        current = self._head_path(key, path)
        if if_match is not None and quoted_etag(current.get("etag")) != quoted_etag(if_match):
            raise PreconditionFailedError(
                f"{self._url}/{key} was replaced since its etag {if_match} was read; "
                "its metadata was left as it is, read it again and retry."
            )
        kind = content_type or current.get("content-type")
        headers = object_headers(clean, kind, current.get(SEGMENTS_HEADER))
        if "x-object-manifest" in current:  # a POST without it would end the DLO
            headers["X-Object-Manifest"] = current["x-object-manifest"]
        self._session.call("write", key, lambda c: c.post_object(self._container, path, headers))
        return self.head(key)

    # -- resumable uploads ------------------------------------------------------
    def start_upload(
        self,
        key: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
    ) -> ResumableUpload:
        """Begin an upload; nothing is sent until its first part."""
        path = self._path(key)
        clean = validate_attributes(metadata, content_type)
        object_headers(clean, content_type)  # reserved keys refused now, not at the end
        return SwiftUpload.start(self._large, key, path, content_type=content_type, metadata=clean)

    def resume_upload(
        self, key: str, upload_id: str, *, storage_class: str | None = None
    ) -> ResumableUpload:
        return SwiftUpload(self._large, key, self._path(key), upload_id)

    def abort_uploads(
        self, key: str, *, older_than: datetime | None = None, keep: str | None = None
    ) -> int:
        path = self._path(key)
        current = self._large.current_upload(key, path)
        done: set[str | None] = {current, keep}
        removed = 0
        for found in list(self._large.sets(f"{path}/", key)):
            if found.path != path or found.upload_id in done:
                continue
            done.add(found.upload_id)
            if older_than is not None and found.initiated and found.initiated >= older_than:
                continue
            self._large.delete_set(key, path, found.upload_id)
            removed += 1
        return removed

    def list_uploads(self, prefix: str = "") -> Iterator[IncompleteUpload]:
        """Segment sets no object names (its manifest never written, or replaced since)."""
        current: dict[str, str | None] = {}
        seen: set[tuple[str, str]] = set()
        for found in self._large.sets(self._list_prefix(prefix), prefix or None):
            if (found.path, found.upload_id) in seen:
                continue  # a set listed in two runs (a key named like a segment)
            seen.add((found.path, found.upload_id))
            if found.path not in current:
                current = {found.path: self._large.current_upload(None, found.path)}
            if current[found.path] != found.upload_id:
                yield IncompleteUpload(self._relative(found.path), found.upload_id, found.initiated)
