"""Read sources through the storage layer in bounded chunks.

* :class:`StreamFile` -- a read-only file over a store object's chunk stream
  (for the streaming CSV reader);
* :class:`RangeFile` -- a seekable file doing ranged reads (for Parquet footers
  and row groups);
* :func:`ndjson_lines` -- the lines of an NDJSON object, batch by batch;
* :func:`digest_objects` -- SHA-256 over objects, streamed.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator

from passerelle.storage import Store

__all__ = ["RangeFile", "StreamFile", "digest_objects", "ndjson_lines"]

READ_CHUNK = 8 * 1024 * 1024


class StreamFile(io.RawIOBase):
    """A non-seekable binary file fed by an iterator of byte chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = bytes(chunk)
        n = min(len(b), len(self._buffer))
        b[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


class RangeFile(io.RawIOBase):
    """A seekable binary file over one store object, read with ranged gets."""

    def __init__(self, store: Store, key: str, size: int) -> None:
        self._store, self._key, self._size, self._pos = store, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        end = min(self._size, self._pos + len(b))
        if end <= self._pos:
            return 0
        at = 0
        for chunk in self._store.get(self._key, start=self._pos, end=end):
            b[at : at + len(chunk)] = chunk
            at += len(chunk)
        self._pos += at
        return at


MAX_LINE = 64 * 1024 * 1024
"""Longest NDJSON line (one resource) read, like the CSV row limit; longer lines are cut."""


def ndjson_lines(
    chunks: Iterable[bytes], batch: int, *, max_line: int = MAX_LINE
) -> Iterator[list[bytes]]:
    """Lines (without their newline; a leading BOM removed) in lists of up to ``batch``.

    Blank lines are kept (as ``b""``) so that line numbers stay exact.  A line longer
    than ``max_line`` bytes comes back cut to ``max_line + 1`` bytes (the reader tells
    it by its length), so memory stays bounded whatever the file holds.
    """
    pending = b""
    overlong = False
    lines: list[bytes] = []
    first = True
    for chunk in chunks:
        data = pending + bytes(chunk)
        if first and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        first = first and not data
        parts = data.split(b"\n")
        pending = parts.pop()
        for line in parts:
            if overlong:
                line, overlong = b"x" * (max_line + 1), False
            lines.append(line[:-1] if line.endswith(b"\r") else line)
            if len(lines) >= batch:
                yield lines
                lines = []
        if len(pending) > max_line:  # keep scanning for its end, not its bytes
            pending, overlong = b"", True
    if overlong:
        pending = b"x" * (max_line + 1)
    if pending:
        lines.append(pending)
    if lines:
        yield lines


def digest_objects(store: Store, items: Iterable[tuple[str, str]]) -> tuple[str, int]:
    """(SHA-256 hex over each ``(label, key)``'s label and bytes in order, total bytes)."""
    h = hashlib.sha256()
    total = 0
    for label, key in items:
        h.update(label.encode() + b"\0")
        for chunk in store.get(key, chunk_size=READ_CHUNK):
            h.update(chunk)
            total += len(chunk)
        h.update(b"\0")
    return h.hexdigest(), total
