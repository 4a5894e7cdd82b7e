"""The one storage contract every backend and wrapper fulfils.

A :class:`Store` is rooted at a URL (a bucket or container plus an optional
prefix, a local folder, or a named in-memory store); keys are relative to that
root.  Optional abilities are declared in :attr:`Store.capabilities` -- callers
ask "can you?" there, never "which backend are you?".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from passerelle.errors import TruncatedReadError
from passerelle.storage.keys import check_key, check_prefix
from passerelle.storage.model import (
    Capabilities,
    IncompleteUpload,
    Listing,
    ObjectInfo,
    PartLimits,
    PutResult,
    UploadedPart,
)

__all__ = [
    "ObjectReader",
    "PutData",
    "ResumableUpload",
    "Store",
    "StoreWrapper",
    "listing_options",
]

PutData = bytes | bytearray | memoryview | Iterable[bytes]
"""What :meth:`Store.put` accepts: a buffer, or an iterable of chunks to stream."""


class ObjectReader:
    """A streaming read of one object (or a range of it).

    Iterate to receive the bytes chunk by chunk; :attr:`info` carries the object's
    facts (with user metadata when the backend returned them).  The reader checks
    that exactly ``expected`` bytes arrive and raises :class:`TruncatedReadError`
    otherwise, so a short read is never mistaken for a whole object.
    """

    def __init__(
        self, info: ObjectInfo, chunks: Iterator[bytes], expected: int, *, label: str
    ) -> None:
        self.info = info
        self.expected = expected
        self._chunks = chunks
        self._label = label
        self.received = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.received += len(chunk)
            yield chunk
        if self.received != self.expected:
            raise TruncatedReadError(
                f"Reading {self._label} returned {self.received} of {self.expected} bytes; "
                "the connection was cut, try again."
            )

    def read(self) -> bytes:
        """All remaining bytes at once (only for objects known to be small)."""
        return b"".join(self)


class ResumableUpload(Protocol):
    """A multipart upload that outlives the process: its id and parts can be journaled.

    Nothing is visible at the destination until :meth:`complete`; parts are
    numbered from 1 and re-sending a number replaces that part.
    """

    @property
    def key(self) -> str: ...

    @property
    def upload_id(self) -> str:
        """What to keep to find this upload again with ``Store.resume_upload``."""
        ...

    def parts(self) -> list[UploadedPart]:
        """The parts the destination holds now, by number (empty if the upload is gone)."""
        ...

    def upload_part(
        self, number: int, data: bytes | bytearray, *, sha256: str | None = None
    ) -> UploadedPart:
        """Send part ``number`` (``sha256``: hex digest of ``data``, when the caller has it)."""
        ...

    def complete(
        self,
        parts: Sequence[UploadedPart],
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> PutResult:
        """Assemble ``parts`` into the object, with its final user metadata.

        ``metadata`` replaces what :meth:`Store.start_upload` set: backends that fix
        metadata at creation (S3) rewrite it once in place after assembling.
        """
        ...

    def abort(self) -> None:
        """Discard the upload and its parts (an upload already gone is fine)."""
        ...


def listing_options(page_size: int, details: bool, start_after: str) -> dict[str, Any]:
    """``list``'s keywords for an inner store: ``start_after`` only when set, so a store
    written before it existed (a caller's own ``Store``) keeps working under a wrapper."""
    options: dict[str, Any] = {"page_size": page_size, "details": details}
    if start_after:
        options["start_after"] = start_after
    return options


class Store(Protocol):
    """The storage contract: a narrow set of operations on keys below one root."""

    @property
    def url(self) -> str:
        """The URL this store is rooted at (no secrets)."""
        ...

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def limits(self) -> PartLimits:
        """Multipart limits to respect when writing here."""
        ...

    @property
    def provider(self) -> str | None:
        """Name of the provider profile that describes where this store lives."""
        ...

    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 1000,
        details: bool = False,
        start_after: str = "",
    ) -> Iterator[ObjectInfo]:
        """Every object below ``prefix`` (folder semantics), fetched page by page.

        With ``details`` and ``capabilities.list_details``, each entry also carries
        its storage class, content type and user metadata. With ``start_after`` (a key
        below ``prefix``), only the keys that sort after it (S3's ``StartAfter``), so a
        caller that knows where it stopped lists only what came since.
        """
        ...

    def list_dir(self, prefix: str = "") -> Listing:
        """Sub-prefixes and objects directly below ``prefix``."""
        ...

    def head(self, key: str) -> ObjectInfo:
        """Facts about one object, with content type and user metadata."""
        ...

    def get(
        self,
        key: str,
        *,
        start: int | None = None,
        end: int | None = None,
        if_match: str | None = None,
        chunk_size: int = 8 * 1024 * 1024,
    ) -> ObjectReader:
        """Stream the object, or bytes ``[start, end)`` of it."""
        ...

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
        """Write an object atomically: readers see the old object or the whole new one.

        Buffers up to the single-request limit go in one request; iterables are
        streamed as a multipart upload whose part size suits ``size`` and
        :attr:`limits`, holding about ``part_size`` x concurrency bytes in memory.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove the object; removing a missing object is not an error."""
        ...

    def copy(self, src_key: str, dst_key: str) -> None:
        """Server-side copy within this store (needs ``capabilities.server_side_copy``)."""
        ...

    def create_container(self) -> None:
        """Create the bucket, container or folder this store is rooted in (idempotent)."""
        ...

    def update_metadata(
        self,
        key: str,
        metadata: Mapping[str, str],
        *,
        content_type: str | None = None,
        storage_class: str | None = None,
        if_match: str | None = None,
    ) -> ObjectInfo:
        """Replace an existing object's user metadata without sending its bytes again.

        ``storage_class`` (S3 class such as ``ONEZONE_IA``) is applied where the
        backend has classes; elsewhere it is ignored.  ``if_match`` (an etag read
        earlier) makes the update conditional where ``capabilities.conditional_metadata``:
        if the object was replaced since, nothing changes and
        :class:`~passerelle.errors.PreconditionFailedError` is raised.
        """
        ...

    def abort_uploads(
        self, key: str, *, older_than: datetime | None = None, keep: str | None = None
    ) -> int:
        """Remove incomplete (never visible) uploads of ``key`` left by a crash.

        ``keep`` names one upload id to leave alone (the one a resume continues).
        """
        ...

    def list_uploads(self, prefix: str = "") -> Iterator[IncompleteUpload]:
        """Incomplete uploads under ``prefix``, in one listing for all keys.

        S3: ListMultipartUploads; local folders: the uploads' temporary files;
        Azure and memory: none (Azure discards uncommitted blocks by itself).
        """
        ...

    def start_upload(
        self,
        key: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
    ) -> ResumableUpload:
        """Begin a resumable multipart upload (needs ``capabilities.resumable_upload``)."""
        ...

    def resume_upload(
        self, key: str, upload_id: str, *, storage_class: str | None = None
    ) -> ResumableUpload:
        """The upload ``upload_id`` of ``key`` begun earlier, maybe by a dead process.

        ``storage_class`` is the one given to :meth:`start_upload` (kept on completion).
        """
        ...


class StoreWrapper:
    """Base for stores that wrap another: delegates everything.

    Every delegated call first checks its keys (:mod:`passerelle.storage.keys`: a key
    that could leave the store's root is refused before any hook or request), then
    passes through :meth:`before` (operation name and key), and every read
    through :meth:`wrap_reader`: a wrapper that paces, fails or observes calls
    overrides those two hooks, not each operation.
    Operation names: ``list``, ``head``, ``get``, ``put``, ``delete``, ``copy``,
    ``create``, ``abort`` (an in-place metadata update counts as ``put``).
    """

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def before(self, op: str, key: str | None) -> None:
        """Called before each delegated operation; does nothing here."""

    def wrap_reader(self, reader: ObjectReader, key: str) -> ObjectReader:
        """Called on each read stream; returns it unchanged here."""
        return reader

    @property
    def url(self) -> str:
        return self.inner.url

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    @property
    def limits(self) -> PartLimits:
        return self.inner.limits

    @property
    def provider(self) -> str | None:
        return self.inner.provider

    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 1000,
        details: bool = False,
        start_after: str = "",
    ) -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        self.before("list", prefix or None)
        return self.inner.list(prefix, **listing_options(page_size, details, start_after))

    def list_dir(self, prefix: str = "") -> Listing:
        check_prefix(prefix)
        self.before("list", prefix or None)
        return self.inner.list_dir(prefix)

    def head(self, key: str) -> ObjectInfo:
        self.before("head", check_key(key))
        return self.inner.head(key)

    def get(
        self,
        key: str,
        *,
        start: int | None = None,
        end: int | None = None,
        if_match: str | None = None,
        chunk_size: int = 8 * 1024 * 1024,
    ) -> ObjectReader:
        self.before("get", check_key(key))
        reader = self.inner.get(key, start=start, end=end, if_match=if_match, chunk_size=chunk_size)
        return self.wrap_reader(reader, key)

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
        self.before("put", check_key(key))
        return self.inner.put(
            key, data, size=size, content_type=content_type, metadata=metadata, part_size=part_size
        )

    def delete(self, key: str) -> None:
        self.before("delete", check_key(key))
        self.inner.delete(key)

    def copy(self, src_key: str, dst_key: str) -> None:
        check_key(dst_key)
        self.before("copy", check_key(src_key))
        self.inner.copy(src_key, dst_key)

    def create_container(self) -> None:
        self.before("create", None)
        self.inner.create_container()

    def update_metadata(
        self,
        key: str,
        metadata: Mapping[str, str],
        *,
        content_type: str | None = None,
        storage_class: str | None = None,
        if_match: str | None = None,
    ) -> ObjectInfo:
        self.before("put", check_key(key))
        return self.inner.update_metadata(
            key,
            metadata,
            content_type=content_type,
            storage_class=storage_class,
            if_match=if_match,
        )

    def abort_uploads(
        self, key: str, *, older_than: datetime | None = None, keep: str | None = None
    ) -> int:
        self.before("abort", check_key(key))
        return self.inner.abort_uploads(key, older_than=older_than, keep=keep)

    def list_uploads(self, prefix: str = "") -> Iterator[IncompleteUpload]:
        check_prefix(prefix)
        self.before("list", prefix or None)
        return self.inner.list_uploads(prefix)

    def start_upload(
        self,
        key: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
    ) -> ResumableUpload:
        self.before("put", check_key(key))
        upload = self.inner.start_upload(
            key, content_type=content_type, metadata=metadata, storage_class=storage_class
        )
        return _WrappedUpload(self, upload)

    def resume_upload(
        self, key: str, upload_id: str, *, storage_class: str | None = None
    ) -> ResumableUpload:
        check_key(key)
        return _WrappedUpload(
            self, self.inner.resume_upload(key, upload_id, storage_class=storage_class)
        )


class _WrappedUpload:
    """An upload whose every request passes through its wrapper's :meth:`before` hook."""

    def __init__(self, wrapper: StoreWrapper, inner: ResumableUpload) -> None:
        self._wrapper = wrapper
        self._inner = inner

    @property
    def key(self) -> str:
        return self._inner.key

    @property
    def upload_id(self) -> str:
        return self._inner.upload_id

    def parts(self) -> list[UploadedPart]:
        self._wrapper.before("list", self.key)
        return self._inner.parts()

    def upload_part(
        self, number: int, data: bytes | bytearray, *, sha256: str | None = None
    ) -> UploadedPart:
        self._wrapper.before("put", self.key)
        return self._inner.upload_part(number, data, sha256=sha256)

    def complete(
        self,
        parts: Sequence[UploadedPart],
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> PutResult:
        self._wrapper.before("put", self.key)
        return self._inner.complete(parts, metadata=metadata, content_type=content_type)

    def abort(self) -> None:
        self._wrapper.before("abort", self.key)
        self._inner.abort()
