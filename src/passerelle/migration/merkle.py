"""Merkle trees over manifest rows (RFC 6962 shape), streamed in flat memory.

A leaf is one manifest row ``(key, size, sha256)`` encoded as::

    u32 big-endian length of the key's UTF-8 bytes || those bytes
    || u64 big-endian size || the 32 raw bytes of the SHA-256

and hashed as ``SHA-256(0x00 || leaf)``; an inner node is
``SHA-256(0x01 || left || right)`` (RFC 6962's domain separation, so a leaf can
never pass for a node). The tree over ``n`` leaves splits at the largest power
of two below ``n``, exactly as RFC 6962 section 2.1; the empty tree's root is
``SHA-256("")``. Because chunks hold a power-of-two number of rows, every full
chunk is a complete subtree: the root over all leaves equals the same tree built
over the chunk roots (:func:`combine`), so a verifier can point at the chunk
that differs.
"""

from __future__ import annotations

import hashlib
import struct

__all__ = ["EMPTY_ROOT", "MerkleBuilder", "combine", "leaf_hash", "node_hash"]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(key: str, size: int, sha256_hex: str) -> bytes:
    """The leaf hash of one manifest row; ``ValueError`` for a malformed row."""
    raw_key = key.encode("utf-8")
    digest = bytes.fromhex(sha256_hex)
    if len(digest) != 32 or sha256_hex != sha256_hex.lower():
        raise ValueError("the SHA-256 must be 64 lowercase hex digits")
    if not 0 <= size < 1 << 64 or len(raw_key) >= 1 << 32:
        raise ValueError("size or key length out of range")
    body = struct.pack(">I", len(raw_key)) + raw_key + struct.pack(">Q", size) + digest
    return hashlib.sha256(b"\x00" + body).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleBuilder:
    """Add leaf hashes one by one; :meth:`root` at any time. Memory: O(log n) hashes."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (subtree size, hash), sizes decreasing
        self.count = 0

    def add(self, leaf: bytes) -> None:
        self.add_subtree(1, leaf)

    def add_subtree(self, size: int, digest: bytes) -> None:
        """Append a complete subtree of ``size`` leaves (a power of two, aligned)."""
        self._stack.append((size, digest))
        self.count += size
        while len(self._stack) > 1 and self._stack[-1][0] == self._stack[-2][0]:
            (n, right), (_, left) = self._stack.pop(), self._stack.pop()
            self._stack.append((2 * n, node_hash(left, right)))

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        digest = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            digest = node_hash(left, digest)
        return digest


def combine(chunk_roots: list[tuple[int, bytes]], chunk_rows: int) -> bytes:
    """The root over all leaves from (rows, root) of each chunk in order.

    Every chunk but the last must hold exactly ``chunk_rows`` rows (a power of two);
    ``ValueError`` otherwise.
    """
    if chunk_rows < 1 or chunk_rows & (chunk_rows - 1):
        raise ValueError("chunk_rows must be a power of two")
    if not chunk_roots:
        return EMPTY_ROOT
    builder = MerkleBuilder()
    for n, (rows, digest) in enumerate(chunk_roots):
        last = n == len(chunk_roots) - 1
        if rows < 1 or rows > chunk_rows or (not last and rows != chunk_rows):
            raise ValueError("only the last chunk may hold fewer rows")
        if rows == chunk_rows:
            builder.add_subtree(rows, digest)
        else:  # the last, partial chunk: its own tree is the tail subtree
            return _close_with(builder, digest)
    return builder.root()


def _close_with(builder: MerkleBuilder, tail: bytes) -> bytes:
    digest = tail
    for _, left in reversed(builder._stack):
        digest = node_hash(left, digest)
    return digest
