"""Swift large objects: segments, manifests and resumable uploads, with no orphan left.

The segments of an object at ``path`` in container ``C`` live in ``C_segments`` as
``{path}/{upload_id}/{number:08d}``: a container no key of the store can reach (a
store's keys all land in ``C``) and whose names parse back from the right, whatever
``path`` holds.  Completing an upload writes a Static Large Object manifest (a
Dynamic one, ``X-Object-Manifest``, where the cluster has no SLO or the remote asks
for it) carrying ``X-Object-Meta-Passerelle-Segments: {upload_id}``: Ceph RGW does not
return SLO manifests (``?multipart-manifest=get`` answers an empty body), so that
header is how an object's own segments are found again.  An upload is *incomplete*
while no object names its segment set; overwriting or deleting an object removes the
segment set it named.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from passerelle.errors import ContainerNotFoundError, ObjectNotFoundError, UsageError
from passerelle.storage.model import PutResult, UploadedPart
from passerelle.storage.swift_client import SwiftSession
from passerelle.storage.swift_headers import (
    SEGMENTS_HEADER,
    UPLOAD_ID,
    info_from_headers,
    object_headers,
    parse_segment,
    parse_stamp,
    quoted_etag,
    segment_name,
)

__all__ = ["ChunksFile", "LargeObjects", "SegmentSet", "SwiftUpload"]


@dataclass(frozen=True, slots=True)
class SegmentSet:
    """The segments one upload of one object holds now."""

    path: str
    upload_id: str
    parts: tuple[UploadedPart, ...]
    initiated: datetime | None


class LargeObjects:
    """The segment container of one Swift container and the manifests that use it."""

    def __init__(self, session: SwiftSession, url: str, container: str, mode: str) -> None:
        self.session = session
        self.url = url
        self.container = container
        self.segments = container + "_segments"
        self._mode = mode
        self._ready = False
        self._lock = threading.Lock()

    @property
    def mode(self) -> str:
        """``slo`` or ``dlo``: the remote's choice, else SLO where ``/info`` offers it."""
        if self._mode == "auto":
            self._mode = "slo" if "slo" in self.session.info() else "dlo"
        return self._mode

    def ensure_container(self) -> None:
        """Create the segment container once (only beside an existing data container)."""
        with self._lock:
            if self._ready:
                return
            self.session.call(
                "write", None, lambda c: c.head_container(self.container), container=True
            )
            self.session.call("write", None, lambda c: c.put_container(self.segments))
            self._ready = True

    def put_segment(
        self,
        key: str,
        path: str,
        upload_id: str,
        number: int,
        data: bytes | Sequence[bytes | memoryview],
        headers: dict[str, str] | None = None,
    ) -> str:
        """Send one segment, a buffer or chunks sent as they are (the server checks its
        MD5), and return its etag."""
        name = segment_name(path, upload_id, number)
        chunks = [data] if isinstance(data, bytes) else list(data)
        digest = hashlib.md5(usedforsecurity=False)
        for chunk in chunks:
            digest.update(chunk)
        md5 = digest.hexdigest()
        size = sum(len(c) for c in chunks)

        def send(conn: Any) -> str:
            body = ChunksFile(chunks)
            return str(conn.put_object(self.segments, name, body, size, etag=md5, headers=headers))

        try:
            return self.session.call("write", key, send)
        except (ContainerNotFoundError, ObjectNotFoundError):  # no segment container yet
            self.ensure_container()
            return self.session.call("write", key, send)

    def sets(self, prefix: str, key: str | None = None) -> Iterator[SegmentSet]:
        """Every segment set whose object path starts with ``prefix``, one at a time."""
        current: tuple[str, str] | None = None
        parts: list[UploadedPart] = []
        first: datetime | None = None
        for entry in self._entries(prefix, key):
            parsed = parse_segment(entry["name"])
            if parsed is None:
                continue
            path, upload_id, number = parsed
            if current != (path, upload_id):
                if current is not None:
                    yield SegmentSet(current[0], current[1], tuple(parts), first)
                current, parts, first = (path, upload_id), [], None
            stamp = parse_stamp(entry.get("last_modified"))
            if stamp is not None and (first is None or stamp < first):
                first = stamp
            parts.append(UploadedPart(number, int(entry["bytes"]), str(entry["hash"])))
        if current is not None:
            yield SegmentSet(current[0], current[1], tuple(parts), first)

    def _entries(self, prefix: str, key: str | None) -> Iterator[dict[str, Any]]:
        marker = ""
        while True:
            try:

                def fetch(c: Any, m: str = marker) -> Any:
                    return c.get_container(
                        self.segments, prefix=prefix or None, marker=m or None, limit=10_000
                    )

                _headers, page = self.session.call("list", key, fetch, container=True)
            except ContainerNotFoundError:  # no large object was ever written here
                return
            if not page:
                return
            yield from page
            marker = page[-1]["name"]

    def parts(self, key: str | None, path: str, upload_id: str) -> list[UploadedPart]:
        """The parts held now (merged: a key named like a segment can split the listing)."""
        held: dict[int, UploadedPart] = {}
        for found in self.sets(f"{path}/{upload_id}/", key):
            if found.path == path and found.upload_id == upload_id:
                held.update((p.number, p) for p in found.parts)
        return [held[n] for n in sorted(held)]

    def delete_set(self, key: str | None, path: str, upload_id: str) -> int:
        """Delete every segment of one upload (segments already gone are fine): in bulk
        requests of up to 1000 where ``/info`` offers ``bulk_delete``, else one by one."""
        names = [segment_name(path, upload_id, p.number) for p in self.parts(key, path, upload_id)]
        if len(names) > 1 and "bulk_delete" in self.session.info():
            left = [
                n
                for start in range(0, len(names), 1000)
                for n in self._bulk_delete(key, names[start : start + 1000])
            ]
        else:
            left = names
        for name in left:
            with contextlib.suppress(ObjectNotFoundError):
                self._delete_segment(key, name)
        return len(names)

    def _bulk_delete(self, key: str | None, names: list[str]) -> list[str]:
        """One bulk-delete request; returns the names to delete one by one (all of them
        when the answer reports errors or cannot be read)."""
        body = "\n".join(quote(f"/{self.segments}/{name}") for name in names).encode()
        headers = {"Content-Type": "text/plain", "Accept": "application/json"}
        _headers, answer = self.session.call(
            "delete",
            key,
            lambda c: c.post_account(headers, query_string="bulk-delete", data=body),
        )
        try:
            report = json.loads(answer)
        except (TypeError, ValueError):
            return names
        if report.get("Errors") or not str(report.get("Response Status", "")).startswith("2"):
            return names
        return []

    def _delete_segment(self, key: str | None, name: str) -> None:
        self.session.call("delete", key, lambda c: c.delete_object(self.segments, name))

    def current_upload(self, key: str | None, path: str) -> str | None:
        """The upload id whose segments the object at ``path`` is made of, if any."""
        try:
            headers = self.session.call("read", key, lambda c: c.head_object(self.container, path))
        except ObjectNotFoundError:
            return None
        value = headers.get(SEGMENTS_HEADER)
        return value if value and UPLOAD_ID.fullmatch(value) else None

    def write_manifest(
        self,
        key: str,
        path: str,
        upload_id: str,
        parts: Sequence[UploadedPart],
        headers: dict[str, str],
    ) -> str | None:
        """Make the object at ``path`` the concatenation of ``parts``; returns its etag."""
        response: dict[str, Any] = {}
        if self.mode == "slo":
            manifest = [
                {
                    "path": f"/{self.segments}/{segment_name(path, upload_id, p.number)}",
                    "etag": p.etag.strip('"'),
                    "size_bytes": p.size,
                }
                for p in parts
                if p.number > 0
            ]
            self.session.call(
                "write",
                key,
                lambda c: c.put_object(
                    self.container,
                    path,
                    json.dumps(manifest),
                    headers=headers,
                    query_string="multipart-manifest=put",
                    response_dict=response,
                ),
            )
            return quoted_etag((response.get("headers") or {}).get("etag"))
        wanted = {0} | {p.number for p in parts}
        for stray in self.parts(key, path, upload_id):  # a DLO joins all it finds
            if stray.number not in wanted:
                name = segment_name(path, upload_id, stray.number)
                with contextlib.suppress(ObjectNotFoundError):
                    self._delete_segment(key, name)
        prefix = quote(f"{self.segments}/{path}/{upload_id}/")
        dlo_headers = {**headers, "X-Object-Manifest": prefix}
        self.session.call(
            "write", key, lambda c: c.put_object(self.container, path, b"", 0, headers=dlo_headers)
        )
        info = self.session.call("read", key, lambda c: c.head_object(self.container, path))
        return quoted_etag(info.get("etag"))


class ChunksFile:
    """A seekable file over a list of chunks: a segment sent without joining them (and
    swiftclient rewinds it to retry)."""

    def __init__(self, chunks: Sequence[bytes | memoryview]) -> None:
        self._chunks = chunks
        self._index = 0
        self._offset = 0
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        out: list[bytes] = []
        wanted = size if size >= 0 else 1 << 62
        while wanted > 0 and self._index < len(self._chunks):
            chunk = self._chunks[self._index]
            piece = bytes(chunk[self._offset : self._offset + wanted])
            out.append(piece)
            wanted -= len(piece)
            self._offset += len(piece)
            if self._offset >= len(chunk):
                self._index, self._offset = self._index + 1, 0
        data = b"".join(out)
        self._position += len(data)
        return data

    def tell(self) -> int:
        return self._position

    def seek(self, position: int, whence: int = 0) -> int:
        if whence != 0:
            raise ValueError("only absolute seeks")
        self._index = self._offset = self._position = 0
        while position > 0 and self._index < len(self._chunks):
            step = min(position, len(self._chunks[self._index]))
            position -= step
            self._position += step
            if step == len(self._chunks[self._index]):
                self._index += 1
            else:
                self._offset = step
        return self._position


class SwiftUpload:
    """One resumable upload: segments sent one by one, then a manifest."""

    def __init__(
        self,
        large: LargeObjects,
        key: str,
        path: str,
        upload_id: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        if not UPLOAD_ID.fullmatch(upload_id):
            raise UsageError(f"{upload_id!r} is not an upload id this Swift store made.")
        self._large = large
        self._key = key
        self._path = path
        self._upload_id = upload_id
        self._content_type = content_type
        self._metadata = dict(metadata or {})

    @classmethod
    def start(
        cls,
        large: LargeObjects,
        key: str,
        path: str,
        *,
        content_type: str | None,
        metadata: Mapping[str, str],
    ) -> SwiftUpload:
        """Begin an upload: its marker (segment 0, empty) holds its metadata, so a resumed
        upload finds them and an aborted one is known to be gone."""
        upload_id = uuid.uuid4().hex
        headers = object_headers(metadata, content_type)
        large.put_segment(key, path, upload_id, 0, b"", headers)
        return cls(large, key, path, upload_id, content_type=content_type, metadata=metadata)

    @property
    def key(self) -> str:
        return self._key

    @property
    def upload_id(self) -> str:
        return self._upload_id

    def parts(self) -> list[UploadedPart]:
        """The parts held now; the marker is looked up by itself (an object's HEAD is
        consistent at once on Swift, a container listing only eventually)."""
        large = self._large
        marker = segment_name(self._path, self._upload_id, 0)
        try:
            large.session.call("list", self._key, lambda c: c.head_object(large.segments, marker))
        except (ObjectNotFoundError, ContainerNotFoundError):
            raise ObjectNotFoundError(
                f"The upload {self._upload_id} of {self._key} is gone (aborted or never "
                "begun here); start it again."
            ) from None
        return [p for p in large.parts(self._key, self._path, self._upload_id) if p.number > 0]

    def upload_part(
        self, number: int, data: bytes | bytearray, *, sha256: str | None = None
    ) -> UploadedPart:
        return self.upload_chunks(number, [bytes(data)], sha256=sha256)

    def upload_chunks(
        self, number: int, chunks: Sequence[bytes | memoryview], *, sha256: str | None = None
    ) -> UploadedPart:
        """Send part ``number`` made of ``chunks`` (never joined in memory)."""
        if not 1 <= number <= 99_999_999:  # 0 is the upload's marker
            raise UsageError(f"Part number {number} is outside 1..99999999.")
        etag = self._large.put_segment(self._key, self._path, self._upload_id, number, chunks)
        return UploadedPart(number, sum(len(c) for c in chunks), etag, sha256)

    def complete(
        self,
        parts: Sequence[UploadedPart],
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> PutResult:
        ordered = sorted((p for p in parts if p.number > 0), key=lambda p: p.number)
        large = self._large
        if metadata is None and not self._metadata and not self._content_type:
            self._read_marker()
        meta = dict(metadata if metadata is not None else self._metadata)
        kind = content_type or self._content_type
        old = large.current_upload(self._key, self._path)
        size = sum(p.size for p in ordered)
        if not ordered:  # nothing to join: an empty plain object
            headers = object_headers(meta, kind)
            etag = large.session.call(
                "write",
                self._key,
                lambda c: c.put_object(large.container, self._path, b"", 0, headers=headers),
            )
            self.abort()
        else:
            headers = object_headers(meta, kind, self._upload_id)
            etag = large.write_manifest(self._key, self._path, self._upload_id, ordered, headers)
        if old is not None and old != self._upload_id:
            large.delete_set(self._key, self._path, old)  # the version replaced: no orphan
        return PutResult(key=self._key, size=size, etag=quoted_etag(etag), parts=len(ordered))

    def _read_marker(self) -> None:
        """The metadata and content type :meth:`start` kept (a resumed upload's)."""
        name = segment_name(self._path, self._upload_id, 0)
        large = self._large
        try:
            headers = large.session.call(
                "read", self._key, lambda c: c.head_object(large.segments, name)
            )
        except ObjectNotFoundError:
            return
        info = info_from_headers(self._key, headers)
        self._metadata = dict(info.metadata or {})
        kind = info.content_type or ""
        if kind and not kind.startswith(("application/octet-stream", "binary/octet-stream")):
            self._content_type = kind

    def abort(self) -> None:
        """Delete this upload's segments (unless an object is made of them)."""
        if self._large.current_upload(self._key, self._path) == self._upload_id:
            return
        self._large.delete_set(self._key, self._path, self._upload_id)
