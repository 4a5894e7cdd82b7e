"""The envelope byte format, version 1 (pure: bytes in, bytes out, no I/O).

One encrypted object is::

    header (32 bytes) || segment 0 || ... || segment n-1 || trailer (56 bytes)

- header: magic ``89 50 53 4c 45 4e 56 0a`` (``\\x89PSLENV\\n``), format version (1 byte, 1),
  log2 of the segment size (1 byte, 16), six zero bytes, a random 16-byte object id;
- segment i: AES-256-GCM of plaintext bytes ``[i*S, (i+1)*S)`` (the last one may be
  shorter, empty only for an empty object) with nonce ``u88be(i) || flag`` (flag 1 on the
  last segment, else 0) and associated data ``binding || u64be(i) || flag``; its 16-byte
  tag follows its ciphertext;
- trailer: AES-256-GCM of ``u64be(plaintext size) || SHA-256(plaintext)`` with nonce
  ``u88be(n) || 02`` and associated data ``binding || u64be(n) || 02``;
- ``binding = SHA-256("passerelle envelope v1" 00 || header || u32be(len(id)) || id)``, where
  ``id`` is the object's identity (UTF-8 of its key below the hub's root).

Each object has its own random 256-bit data key, wrapped by the custody with the context
``"passerelle dek v1" 00 || binding``; the wrapped key lives in the object's user metadata.
The full specification is docs/sovereignty.md ("Envelope format").
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from passerelle.errors import TamperedDataError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "DATA_KEY_SIZE",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MAGIC",
    "SEGMENT_SIZE",
    "TAG_SIZE",
    "TRAILER_SIZE",
    "Header",
    "Sealer",
    "SegmentCipher",
    "Span",
    "TrailerSeen",
    "binding",
    "is_envelope",
    "open_segments",
    "parse_header",
    "plaintext_size",
    "segment_count",
    "segment_span",
    "stored_size",
    "wrap_context",
]

MAGIC = b"\x89PSLENV\n"
FORMAT_VERSION = 1
HEADER_SIZE = 32
TAG_SIZE = 16
TRAILER_SIZE = 8 + 32 + TAG_SIZE
SEGMENT_SIZE = 64 * 1024
"""Plaintext bytes per segment in version 1, the only size a v1 reader accepts (so a stored
size alone gives the plaintext size); chosen by measuring, see bench/crypto_throughput.py.
The functions below take other sizes for benchmarks and tests of the arithmetic."""
DATA_KEY_SIZE = 32
OBJECT_ID_SIZE = 16

_OVERHEAD = HEADER_SIZE + TRAILER_SIZE
_FLAG_MIDDLE, _FLAG_LAST, _FLAG_TRAILER = b"\x00", b"\x01", b"\x02"
_BINDING_LABEL = b"passerelle envelope v1\x00"
_WRAP_LABEL = b"passerelle dek v1\x00"


@dataclass(frozen=True, slots=True)
class Header:
    """The fixed-length, cleartext (but authenticated) start of an envelope."""

    object_id: bytes
    segment_size: int = SEGMENT_SIZE
    format_version: int = FORMAT_VERSION

    @classmethod
    def fresh(cls, segment_size: int = SEGMENT_SIZE) -> Header:
        """A header with a new random object id."""
        return cls(secrets.token_bytes(OBJECT_ID_SIZE), segment_size)

    def to_bytes(self) -> bytes:
        log2 = self.segment_size.bit_length() - 1
        return MAGIC + bytes((self.format_version, log2)) + bytes(6) + self.object_id


def is_envelope(first_bytes: bytes | bytearray | memoryview) -> bool:
    """Whether raw stored bytes start like an envelope (magic only; nothing authenticated)."""
    return bytes(first_bytes[: len(MAGIC)]) == MAGIC


def parse_header(raw: bytes | bytearray | memoryview) -> Header:
    """The header at the start of ``raw``; :class:`TamperedDataError` if it is not one."""
    head = bytes(raw[:HEADER_SIZE])
    if len(head) < HEADER_SIZE or not is_envelope(head):
        raise TamperedDataError(
            "the object is not a passerelle envelope (no envelope header); "
            "it was written unencrypted or replaced, restore it from a trusted copy"
        )
    version, log2 = head[8], head[9]
    if version != FORMAT_VERSION:
        raise TamperedDataError(
            f"the envelope's format version is {version}, this passerelle reads version "
            f"{FORMAT_VERSION}; upgrade passerelle, or restore the object if it was altered"
        )
    if 1 << log2 != SEGMENT_SIZE or any(head[10:16]):
        raise TamperedDataError(
            "the envelope header is malformed (segment size or reserved bytes); "
            "the object was altered, restore it from a trusted copy"
        )
    return Header(head[16:HEADER_SIZE], 1 << log2, version)


def binding(header: bytes, identity: str) -> bytes:
    """The 32-byte digest binding every segment and the wrapped key to header and identity."""
    name = identity.encode("utf-8")
    return hashlib.sha256(_BINDING_LABEL + header + len(name).to_bytes(4, "big") + name).digest()


def wrap_context(object_binding: bytes) -> bytes:
    """What the custody binds a wrapped data key to (AES-GCM associated data)."""
    return _WRAP_LABEL + object_binding


# -- size arithmetic ------------------------------------------------------------------


def segment_count(plaintext: int, segment_size: int = SEGMENT_SIZE) -> int:
    """Segments holding ``plaintext`` bytes: at least one (an empty object has one empty)."""
    return max(1, -(-plaintext // segment_size))


def stored_size(plaintext: int, segment_size: int = SEGMENT_SIZE) -> int:
    """Bytes stored for ``plaintext`` bytes of plaintext."""
    return _OVERHEAD + plaintext + TAG_SIZE * segment_count(plaintext, segment_size)


def plaintext_size(stored: int, segment_size: int = SEGMENT_SIZE) -> int:
    """Plaintext bytes of a ``stored``-byte envelope; :class:`TamperedDataError` if impossible."""
    body = stored - _OVERHEAD
    count = max(1, -(-body // (segment_size + TAG_SIZE)))
    plain = body - TAG_SIZE * count
    if body < TAG_SIZE or (count > 1 and plain <= (count - 1) * segment_size):
        raise TamperedDataError(
            f"{stored} bytes is not the size of any envelope; "
            "the object was truncated or extended, restore it from a trusted copy"
        )
    return plain


@dataclass(frozen=True, slots=True)
class Span:
    """The stored bytes ``[stored_start, stored_end)`` a plaintext range needs.

    Segments ``first..last`` (inclusive) are decrypted; ``skip`` plaintext bytes are
    dropped from the first, ``take`` bytes are kept in all; ``trailer`` says whether
    the trailer follows the last segment in the span (it does when the span reaches
    the object's last segment).
    """

    first: int
    last: int
    count: int
    stored_start: int
    stored_end: int
    skip: int
    take: int
    trailer: bool


def _segment_plain(index: int, count: int, plaintext: int, segment_size: int) -> int:
    return segment_size if index < count - 1 else plaintext - (count - 1) * segment_size


def segment_span(start: int, end: int, plaintext: int, segment_size: int = SEGMENT_SIZE) -> Span:
    """The segments covering plaintext bytes ``[start, end)`` (``start == end`` only for 0..0)."""
    if not (0 <= start <= end <= plaintext) or (start == end and plaintext):
        raise ValueError(f"[{start}, {end}) is not a range of {plaintext} bytes")
    count = segment_count(plaintext, segment_size)
    first = start // segment_size
    last = max(first, (end - 1) // segment_size)
    step = segment_size + TAG_SIZE
    stored_start = HEADER_SIZE + first * step
    stored_end = (
        HEADER_SIZE + last * step + _segment_plain(last, count, plaintext, segment_size) + TAG_SIZE
    )
    trailer = last == count - 1
    if trailer:
        stored_end += TRAILER_SIZE
    return Span(
        first,
        last,
        count,
        stored_start,
        stored_end,
        start - first * segment_size,
        end - start,
        trailer,
    )


# -- the cipher -----------------------------------------------------------------------


_NONCE_PAD = bytes(3)  # u88be(i) = 3 zero bytes || u64be(i), as i < 2**64


class SegmentCipher:
    """One object's AES-256-GCM under its data key, bound to its header and identity."""

    def __init__(self, data_key: bytes, object_binding: bytes) -> None:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(data_key) != DATA_KEY_SIZE:
            raise TamperedDataError(
                "the unwrapped data key has the wrong length; "
                "the object's key metadata was altered, restore it from a trusted copy"
            )
        aead: AESGCM = AESGCM(data_key)
        self._encrypt, self._decrypt = aead.encrypt, aead.decrypt
        self._invalid = InvalidTag
        self._binding = object_binding

    def seal(self, index: int, data: bytes | bytearray | memoryview, last: bool) -> bytes:
        """Segment ``index`` of ``data`` (``last``: the object's final segment)."""
        at = index.to_bytes(8, "big") + (_FLAG_LAST if last else _FLAG_MIDDLE)
        return self._encrypt(_NONCE_PAD + at, data, self._binding + at)

    def open(self, index: int, data: bytes | bytearray | memoryview, last: bool) -> bytes:
        """The plaintext of stored segment ``index``; :class:`TamperedDataError` if forged."""
        at = index.to_bytes(8, "big") + (_FLAG_LAST if last else _FLAG_MIDDLE)
        try:
            return self._decrypt(_NONCE_PAD + at, data, self._binding + at)
        except self._invalid:
            where = "last segment" if last else "segment"
            raise TamperedDataError(
                f"{where} {index} of the envelope fails authentication; the object was "
                "truncated, reordered, spliced or altered, restore it from a trusted copy"
            ) from None

    def seal_trailer(self, count: int, plaintext: int, digest: bytes) -> bytes:
        at = count.to_bytes(8, "big") + _FLAG_TRAILER
        return self._encrypt(
            _NONCE_PAD + at, plaintext.to_bytes(8, "big") + digest, self._binding + at
        )

    def open_trailer(self, count: int, raw: bytes | bytearray | memoryview) -> tuple[int, bytes]:
        """(plaintext size, plaintext SHA-256) from the trailer after ``count`` segments."""
        at = count.to_bytes(8, "big") + _FLAG_TRAILER
        try:
            body = self._decrypt(_NONCE_PAD + at, raw, self._binding + at)
        except self._invalid:
            raise TamperedDataError(
                "the envelope's trailer fails authentication; the object was truncated "
                "or altered, restore it from a trusted copy"
            ) from None
        return int.from_bytes(body[:8], "big"), body[8:]


# -- streams --------------------------------------------------------------------------


class Sealer:
    """Encrypts a stream of plaintext chunks into envelope bytes.

    Iterate :meth:`chunks`; afterwards :attr:`plaintext_size` and :attr:`digest` hold
    what the trailer authenticated.  Whole segments inside one input chunk are
    encrypted from a view of it; only bytes spanning two chunks are copied.
    """

    def __init__(self, header: bytes, cipher: SegmentCipher, segment_size: int) -> None:
        self._header = header
        self._cipher = cipher
        self._size = segment_size
        self.plaintext_size = 0
        self.digest = b""

    def chunks(self, data: Iterable[bytes | bytearray | memoryview]) -> Iterator[bytes]:
        hasher = hashlib.sha256()
        size, seal = self._size, self._cipher.seal
        index = 0
        held: bytes | bytearray | memoryview | None = None  # a full segment awaiting lastness
        pending = bytearray()
        yield self._header
        for chunk in data:
            view = memoryview(chunk).cast("B")
            if not view.nbytes:
                continue
            hasher.update(view)
            self.plaintext_size += view.nbytes
            if pending:
                need = size - len(pending)
                pending += view[:need]
                view = view[need:]
                if len(pending) < size:
                    continue
                piece: bytes | bytearray | memoryview = pending
                pending = bytearray()
            elif view.nbytes >= size:
                piece, view = view[:size], view[size:]
            else:
                pending = bytearray(view)
                continue
            if held is not None:
                yield seal(index, held, False)
                index += 1
            while view.nbytes >= size:
                yield seal(index, piece, False)
                index += 1
                piece, view = view[:size], view[size:]
            held = bytes(piece) if isinstance(piece, memoryview) else piece
            pending = bytearray(view)
        if held is not None and pending:
            yield seal(index, held, False)
            index += 1
            held = None
        yield seal(index, held if held is not None else pending, True)
        self.digest = hasher.digest()
        yield self._cipher.seal_trailer(index + 1, self.plaintext_size, self.digest)


@dataclass(slots=True)
class TrailerSeen:
    """Filled by :func:`open_segments` once the trailer authenticated: its plaintext SHA-256."""

    digest: bytes | None = None


def open_segments(
    cipher: SegmentCipher,
    chunks: Iterable[bytes | bytearray | memoryview],
    span: Span,
    plaintext: int,
    segment_size: int,
    seen: TrailerSeen | None = None,
) -> Iterator[bytes]:
    """Plaintext of ``span`` from its stored bytes (``chunks`` start at ``span.stored_start``).

    Checks each segment's tag, index and lastness, and the trailer (plaintext size) when
    the span includes it; raises :class:`TamperedDataError` on the first failure.  Whole
    segments inside one chunk are decrypted from a view of it; only a segment spanning
    two chunks is copied.
    """
    step = segment_size + TAG_SIZE
    final, last = span.count - 1, span.last
    last_size = _segment_plain(last, span.count, plaintext, segment_size) + TAG_SIZE
    decrypt, bound, invalid = cipher._decrypt, cipher._binding, cipher._invalid  # the hot loop
    index, skip, left = span.first, span.skip, span.take
    want = step if index < last else last_size
    pending = bytearray()
    for chunk in chunks:
        view = memoryview(chunk).cast("B")
        while True:
            if not pending:  # fast path: whole middle segments inside this chunk
                while index < last and view.nbytes >= step:
                    at = index.to_bytes(8, "big") + _FLAG_MIDDLE
                    try:
                        plain = decrypt(_NONCE_PAD + at, view[:step], bound + at)
                    except invalid:
                        cipher.open(index, view[:step], False)  # raises the named error
                        raise
                    view = view[step:]
                    index += 1
                    if skip:
                        plain, skip = plain[skip:], 0
                    left -= len(plain)
                    yield plain
                want = step if index < last else last_size if index == last else TRAILER_SIZE
            piece: bytearray | memoryview
            if pending:
                take = want - len(pending)
                pending += view[:take]
                view = view[take:]
                if len(pending) < want:
                    break
                piece, pending = pending, bytearray()
            elif view.nbytes >= want:
                piece, view = view[:want], view[want:]
            else:
                pending += view
                break
            if index > last:
                _check_trailer(cipher, span.count, piece, plaintext, seen)
                return
            at = index.to_bytes(8, "big") + (_FLAG_LAST if index == final else _FLAG_MIDDLE)
            try:
                plain = decrypt(_NONCE_PAD + at, piece, bound + at)
            except invalid:
                cipher.open(index, piece, index == final)  # raises the named error
                raise
            if skip or len(plain) - skip > left:
                plain = plain[skip : skip + left]
                skip = 0
            left -= len(plain)
            if plain:
                yield plain
            index += 1
            if index > last and not span.trailer:
                return
            want = step if index < last else last_size if index == last else TRAILER_SIZE
    raise TamperedDataError(
        "the envelope ended before its last segment or trailer; the object was truncated, "
        "restore it from a trusted copy"
    )


def _check_trailer(
    cipher: SegmentCipher,
    count: int,
    raw: bytes | bytearray | memoryview,
    plaintext: int,
    seen: TrailerSeen | None,
) -> None:
    size, digest = cipher.open_trailer(count, raw)
    if size != plaintext:
        raise TamperedDataError(
            f"the envelope's trailer says {size} bytes but its stored size says "
            f"{plaintext}; the object was altered, restore it from a trusted copy"
        )
    if seen is not None:
        seen.digest = digest
