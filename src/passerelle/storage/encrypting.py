"""A store wrapper that keeps only ciphertext in the store it wraps (client-side envelopes).

Every object written through :class:`EncryptingStore` gets a fresh random 256-bit data
key, is encrypted in segments (:mod:`passerelle.sovereignty.envelope`), and carries its
data key wrapped by the custody's current KEK in its user metadata::

    passerelle_envelope = "1"            format version
    passerelle_kek      = "kek-..."      the KEK the data key is wrapped under
    passerelle_dek      = base64(...)    the wrapped data key

Rotation is a metadata update (:meth:`EncryptingStore.rewrap`), never a re-encryption;
destroying a KEK makes its objects unreadable (crypto-erase).  Reads decrypt only the
segments a range needs; the header and unwrapped data key of recently read objects are
kept in a small in-memory LRU keyed by (key, etag), so Parquet's many ranged reads cost
one request each.  User metadata and content type stay in clear, as do key names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from passerelle.errors import (
    KeyUnavailableError,
    PreconditionFailedError,
    TamperedDataError,
    UnsupportedOperationError,
    UsageError,
)
from passerelle.keys.custody import KeyCustody, check_key_id
from passerelle.sovereignty.envelope import (
    DATA_KEY_SIZE,
    FORMAT_VERSION,
    HEADER_SIZE,
    SEGMENT_SIZE,
    Header,
    Sealer,
    SegmentCipher,
    TrailerSeen,
    binding,
    open_segments,
    segment_span,
    stored_size,
    wrap_context,
)
from passerelle.storage.base import (
    ObjectReader,
    PutData,
    ResumableUpload,
    Store,
    StoreWrapper,
    listing_options,
)
from passerelle.storage.envelope_objects import (
    DEK_KEY,
    ENVELOPE_KEY,
    ENVELOPE_METADATA,
    KEK_KEY,
    checked_header,
    envelope_metadata,
    exactly,
    plain_info,
    plain_size,
    user_metadata,
)
from passerelle.storage.keys import check_key, check_prefix
from passerelle.storage.model import Capabilities, Listing, ObjectInfo, PutResult

__all__ = ["DEK_KEY", "ENVELOPE_METADATA", "KEK_KEY", "EncryptingStore", "EnvelopeInfo"]


RefusalHook = Callable[[str, str, str], None]

UPDATE_ATTEMPTS = 5
"""How many times a metadata update reads an object again after a writer replaced it."""


@dataclass(frozen=True, slots=True)
class EnvelopeInfo:
    """What an object's envelope says about it (read from its header and metadata)."""

    key_id: str
    plaintext_size: int
    segment_size: int
    format_version: int
    stored_size: int


@dataclass(frozen=True, slots=True)
class _Opened:
    """One object's header and unwrapped cipher, valid while its etag is ``etag``."""

    etag: str | None
    header: Header
    cipher: SegmentCipher
    key_id: str
    plaintext_size: int
    opened_at: float  # time.monotonic() when its data key was unwrapped


class EncryptingStore(StoreWrapper):
    """Encrypts on ``put``, decrypts on ``get``; ``inner`` only ever holds envelopes.

    ``identity_prefix`` is where ``inner`` sits below the hub store's root: an object's
    identity (bound into every segment and into its wrapped key) is
    ``identity_prefix/key``, the same whichever prefix view wrote it.  ``on_refused``
    is called as ``on_refused(key_id, key, reason)`` when a key use is refused, with
    reason ``"key-unavailable"`` (missing or destroyed KEK) or ``"tampered"``.
    """

    cache_entries = 128
    cache_seconds = 30.0
    """How long an unwrapped data key is used again without asking the custody: a KEK
    destroyed by another process (a CLI, another ``serve`` worker) is refused here
    within this time; one in this process at once (:meth:`forget_keys`)."""
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(
        self,
        inner: Store,
        custody: KeyCustody,
        *,
        identity_prefix: str = "",
        on_refused: RefusalHook | None = None,
    ) -> None:
        super().__init__(inner)
        self.custody = custody
        self.identity_prefix = identity_prefix.strip("/")
        self._on_refused = on_refused
        self._opened: OrderedDict[str, _Opened] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def capabilities(self) -> Capabilities:
        return replace(self.inner.capabilities, server_side_copy=False, resumable_upload=False)

    @property
    def on_refused(self) -> RefusalHook | None:
        """The hook told of every refused key use (for a wrapper built over another store)."""
        return self._on_refused

    def identity(self, key: str) -> str:
        """The name bound into ``key``'s envelope: its key below the hub store's root."""
        return f"{self.identity_prefix}/{key}" if self.identity_prefix else key

    def forget_keys(self) -> None:
        """Drop every unwrapped data key held in memory (do it after destroying a KEK)."""
        with self._lock:
            self._opened.clear()

    # -- writes ---------------------------------------------------------------------
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
        user = user_metadata(metadata)
        header = Header.fresh()
        raw_header = header.to_bytes()
        object_binding = binding(raw_header, self.identity(key))
        key_id = self.custody.current_key_id()
        data_key = secrets.token_bytes(DATA_KEY_SIZE)
        wrapped = self._wrap(key, key_id, data_key, wrap_context(object_binding))
        envelope = {
            ENVELOPE_KEY: str(FORMAT_VERSION),
            KEK_KEY: key_id,
            DEK_KEY: base64.b64encode(wrapped).decode("ascii"),
        }
        chunks: Iterable[bytes | bytearray | memoryview]
        if isinstance(data, bytes | bytearray | memoryview):
            size, chunks = memoryview(data).nbytes, (data,)
        else:
            chunks = exactly(data, size, key)
        sealer = Sealer(raw_header, SegmentCipher(data_key, object_binding), SEGMENT_SIZE)
        result = self.inner.put(
            key,
            sealer.chunks(chunks),
            size=None if size is None else stored_size(size),
            content_type=content_type,
            metadata={**user, **envelope},
            part_size=part_size,
        )
        return PutResult(key, sealer.plaintext_size, result.etag, result.version, result.parts)

    def copy(self, src_key: str, dst_key: str) -> None:
        """Decrypt ``src_key`` and encrypt it again as ``dst_key`` (its identity changes)."""
        check_key(dst_key)
        self.before("copy", check_key(src_key))
        reader = self.get(src_key)
        info = reader.info
        self.put(
            dst_key,
            iter(reader),
            size=info.size,
            content_type=info.content_type,
            metadata=info.metadata,
        )

    def update_metadata(
        self,
        key: str,
        metadata: Mapping[str, str],
        *,
        content_type: str | None = None,
        storage_class: str | None = None,
        if_match: str | None = None,
    ) -> ObjectInfo:
        """Replace ``key``'s user metadata; its envelope metadata stays as it is.

        The envelope is read and written back under one etag (where the inner store
        updates conditionally), so a version written meanwhile never receives the data
        key of the one before it: without ``if_match`` that version is read again.
        """
        self.before("put", check_key(key))
        user = user_metadata(metadata)
        conditional = self.inner.capabilities.conditional_metadata
        if if_match is not None and not conditional:
            raise _no_conditional_update(self.url)
        for _attempt in range(UPDATE_ATTEMPTS):
            current = self.inner.head(key)
            if if_match is not None and current.etag != if_match:
                raise PreconditionFailedError(
                    f"{key!r} was replaced since its etag {if_match} was read; "
                    "its metadata was left as it is, read it again and retry."
                )
            envelope = envelope_metadata(key, current)
            try:
                info = self.inner.update_metadata(
                    key,
                    {**user, **envelope},
                    content_type=content_type,
                    storage_class=storage_class,
                    if_match=current.etag if conditional else None,
                )
            except PreconditionFailedError:
                if if_match is not None:
                    raise
                continue  # a writer replaced it between the head and the update
            return plain_info(key, info)
        raise _kept_replaced(key, "its metadata was updated")

    def rewrap(self, key: str, key_id: str) -> bool:
        """Wrap ``key``'s data key under KEK ``key_id`` (metadata only; bytes untouched).

        False when it already is.  The new wrapped key is written only onto the version
        it was unwrapped from (``update_metadata(if_match=etag)``): when a writer replaced
        the object meanwhile, nothing is changed and the new version is read again, to be
        re-wrapped in turn or found under ``key_id`` already; after
        :data:`UPDATE_ATTEMPTS` tries, :class:`PreconditionFailedError` (run the rotation
        again).  Refused (:class:`UnsupportedOperationError`) where the inner store cannot
        update metadata conditionally.
        """
        self.before("put", check_key(key))
        check_key_id(key_id)
        if not self.inner.capabilities.conditional_metadata:
            raise _no_conditional_update(self.url)
        for _attempt in range(UPDATE_ATTEMPTS):
            reader = self.inner.get(key, start=0, end=HEADER_SIZE)
            raw_header = reader.read()
            envelope = envelope_metadata(key, reader.info, raw_header)
            checked_header(key, raw_header)
            old = envelope[KEK_KEY]
            if old == key_id:
                return False
            etag = reader.info.etag
            if etag is None:
                raise _no_conditional_update(self.url)
            context = wrap_context(binding(raw_header, self.identity(key)))
            data_key = self._unwrap(key, old, envelope[DEK_KEY], context)
            wrapped = self._wrap(key, key_id, data_key, context)
            metadata = {**(reader.info.metadata or {}), KEK_KEY: key_id}
            metadata[DEK_KEY] = base64.b64encode(wrapped).decode("ascii")
            try:
                self.inner.update_metadata(key, metadata, if_match=etag)
            except PreconditionFailedError:
                continue  # overwritten since the read: that version is read again
            return True
        raise _kept_replaced(key, "its data key was re-wrapped")

    def _wrap(self, key: str, key_id: str, data_key: bytes, context: bytes) -> bytes:
        try:
            return self.custody.wrap(key_id, data_key, context)
        except KeyUnavailableError:
            self._refused(key_id, key, "key-unavailable")
            raise

    def start_upload(
        self,
        key: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
    ) -> ResumableUpload:
        check_key(key)
        raise UnsupportedOperationError(
            f"The encrypting store over {self.url} takes no resumable uploads; "
            "use put, which streams and encrypts."
        )

    def resume_upload(
        self, key: str, upload_id: str, *, storage_class: str | None = None
    ) -> ResumableUpload:
        return self.start_upload(key)

    def abort_uploads(
        self, key: str, *, older_than: datetime | None = None, keep: str | None = None
    ) -> int:
        return super().abort_uploads(key, older_than=older_than, keep=keep)

    # -- reads ----------------------------------------------------------------------
    def head(self, key: str) -> ObjectInfo:
        self.before("head", check_key(key))
        info = self.inner.head(key)
        envelope_metadata(key, info)
        return plain_info(key, info)

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
        for info in self.inner.list(prefix, **listing_options(page_size, details, start_after)):
            yield plain_info(info.key, info)

    def list_dir(self, prefix: str = "") -> Listing:
        check_prefix(prefix)
        self.before("list", prefix or None)
        listing = self.inner.list_dir(prefix)
        objects = tuple(plain_info(o.key, o) for o in listing.objects)
        return Listing(listing.prefixes, objects)

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
        lo = start or 0
        if lo < 0 or (end is not None and end <= lo):
            raise UsageError(f"The range [{lo}, {end}) of {key!r} is empty or reversed.")
        if lo == 0 and end is None:
            return self._whole(key, if_match, chunk_size)
        opened = self._cached(key)
        if opened is not None and if_match in (None, opened.etag):
            try:
                return self._ranged(key, opened, lo, end, chunk_size)
            except PreconditionFailedError:
                self._forget(key)
                if if_match is not None:
                    raise
        header = self.inner.get(key, start=0, end=HEADER_SIZE, if_match=if_match)
        opened = self._open(key, header.info, header.read())
        return self._ranged(key, opened, lo, end, chunk_size)

    def envelope_info(self, key: str) -> EnvelopeInfo:
        """Key id, sizes and format of ``key``'s envelope (header and metadata; no unwrap)."""
        self.before("head", check_key(key))
        reader = self.inner.get(key, start=0, end=HEADER_SIZE)
        envelope = envelope_metadata(key, reader.info)
        header = checked_header(key, reader.read())
        return EnvelopeInfo(
            envelope[KEK_KEY],
            plain_size(key, reader.info.size, header.segment_size),
            header.segment_size,
            header.format_version,
            reader.info.size,
        )

    def plaintext_digest(self, key: str) -> str:
        """Decrypt all of ``key``, check the SHA-256 its envelope authenticates, return it (hex)."""
        self.before("get", check_key(key))
        seen = TrailerSeen()
        reader = self._whole(key, None, 8 * 1024 * 1024, seen)
        hasher = hashlib.sha256()
        for chunk in reader:
            hasher.update(chunk)
        if seen.digest != hasher.digest():
            opened = self._cached(key)
            self._refused(opened.key_id if opened else "", key, "tampered")
            raise TamperedDataError(
                f"the plaintext of {key!r} does not match the SHA-256 its envelope carries; "
                "restore it from a trusted copy"
            )
        return hasher.hexdigest()

    # -- inside ---------------------------------------------------------------------
    def _whole(
        self, key: str, if_match: str | None, chunk_size: int, seen: TrailerSeen | None = None
    ) -> ObjectReader:
        raw = self.inner.get(key, if_match=if_match, chunk_size=chunk_size)
        chunks = iter(raw)
        first = memoryview(b"")
        for chunk in chunks:
            first = memoryview(bytes(first) + chunk if first.nbytes else chunk).cast("B")
            if first.nbytes >= HEADER_SIZE:
                break
        opened = self._open(key, raw.info, bytes(first[:HEADER_SIZE]))
        plain = opened.plaintext_size
        span = segment_span(0, plain, plain, opened.header.segment_size)
        rest: tuple[bytes | memoryview, ...] = (first[HEADER_SIZE:],)
        body = itertools.chain(rest, chunks)
        stream = open_segments(opened.cipher, body, span, plain, opened.header.segment_size, seen)
        return ObjectReader(
            plain_info(key, raw.info),
            self._watched(key, opened.key_id, stream),
            plain,
            label=f"{self.url}/{key}",
        )

    def _ranged(
        self, key: str, opened: _Opened, lo: int, end: int | None, chunk_size: int
    ) -> ObjectReader:
        plain = opened.plaintext_size
        if lo >= plain:
            raise UsageError(
                f"The range starting at {lo} is past the end of {key!r} ({plain} bytes)."
            )
        hi = plain if end is None else min(end, plain)
        segment_size = opened.header.segment_size
        span = segment_span(lo, hi, plain, segment_size)
        raw = self.inner.get(
            key,
            start=span.stored_start,
            end=span.stored_end,
            if_match=opened.etag,
            chunk_size=chunk_size,
        )
        stream = open_segments(opened.cipher, raw, span, plain, segment_size)
        return ObjectReader(
            plain_info(key, raw.info),
            self._watched(key, opened.key_id, stream),
            hi - lo,
            label=f"{self.url}/{key}",
        )

    def _open(self, key: str, info: ObjectInfo, raw_header: bytes) -> _Opened:
        envelope = envelope_metadata(key, info, raw_header)
        header = checked_header(key, raw_header)
        object_binding = binding(raw_header, self.identity(key))
        key_id = envelope[KEK_KEY]
        data_key = self._unwrap(key, key_id, envelope[DEK_KEY], wrap_context(object_binding))
        opened = _Opened(
            info.etag,
            header,
            SegmentCipher(data_key, object_binding),
            key_id,
            plain_size(key, info.size, header.segment_size),
            self.clock(),
        )
        if info.etag is None:  # nothing to check a cached header against: do not keep it
            return opened
        with self._lock:
            self._opened[key] = opened
            self._opened.move_to_end(key)
            while len(self._opened) > self.cache_entries:
                self._opened.popitem(last=False)
        return opened

    def _unwrap(self, key: str, key_id: str, wrapped_b64: str, context: bytes) -> bytes:
        try:
            wrapped = base64.b64decode(wrapped_b64, validate=True)
        except (binascii.Error, ValueError):
            self._refused(key_id, key, "tampered")
            raise TamperedDataError(
                f"the wrapped data key of {key!r} is not base64; its key metadata was altered, "
                "restore it from a trusted copy"
            ) from None
        try:
            return self.custody.unwrap(key_id, wrapped, context)
        except KeyUnavailableError:
            self._refused(key_id, key, "key-unavailable")
            raise
        except TamperedDataError:
            self._refused(key_id, key, "tampered")
            raise

    def _watched(self, key: str, key_id: str, stream: Iterator[bytes]) -> Iterator[bytes]:
        try:
            yield from stream
        except TamperedDataError as exc:
            self._forget(key)
            self._refused(key_id, key, "tampered")
            raise TamperedDataError(f"{key!r}: {exc}") from None

    def _refused(self, key_id: str, key: str, reason: str) -> None:
        if self._on_refused is not None:
            self._on_refused(key_id, key, reason)

    def _cached(self, key: str) -> _Opened | None:
        with self._lock:
            opened = self._opened.get(key)
            if opened is None:
                return None
            if self.clock() - opened.opened_at >= self.cache_seconds:
                del self._opened[key]  # unwrap again: the KEK may be gone since
                return None
            self._opened.move_to_end(key)
            return opened

    def _forget(self, key: str) -> None:
        with self._lock:
            self._opened.pop(key, None)


def _no_conditional_update(url: str) -> UnsupportedOperationError:
    return UnsupportedOperationError(
        f"The store {url} cannot update metadata only while an object is unchanged, so a "
        "writer could race the update and lose its data key; nothing was changed."
    )


def _kept_replaced(key: str, what: str) -> PreconditionFailedError:
    return PreconditionFailedError(
        f"{key!r} was replaced {UPDATE_ATTEMPTS} times while {what}; nothing was changed, "
        "run it again."
    )
