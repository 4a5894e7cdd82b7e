"""Checking a migration certificate, the pure part: parse, signature, arithmetic, rows to chunks.

Rows (from a manifest or rebuilt from the destination) are placed into the
certificate's chunks by key range, not by position, so an added or removed row
is located to its chunk (or, between chunks, named by its key) without
shifting every later chunk; every problem is one sentence in a
:class:`CertificateCheck`. :mod:`~passerelle.migration.certificate_verify`
does the reading.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from passerelle.errors import UsageError
from passerelle.migration.certificate import FORMAT, MANIFEST_HEADER, Certificate
from passerelle.migration.merkle import MerkleBuilder, combine, leaf_hash

__all__ = [
    "MAX_PROBLEMS",
    "CertificateCheck",
    "ChunkMatcher",
    "check_arithmetic",
    "load_certificate",
    "manifest_rows",
    "signature_valid",
]

MAX_PROBLEMS = 200
_HEX = frozenset("0123456789abcdef")


@dataclass
class CertificateCheck:
    """What was checked and every problem found, as sentences."""

    certificate: Certificate
    pinned: bool = False
    rows_checked: int = 0
    objects_checked: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, sentence: str) -> None:
        """Count a problem; keep its sentence (the first ``MAX_PROBLEMS``), control codes shown
        as ``\\xNN`` so a crafted key cannot drive the terminal that prints it."""
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            shown = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in sentence)
            self.problems.append(shown)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise ValueError(f"member {name!r} appears twice")
        out[name] = value
    return out


def _no_floats(text: str) -> Any:
    raise ValueError(f"number {text} is not an integer")


def load_certificate(text: str | bytes, where: str = "the certificate") -> Certificate:
    """Parse a certificate; :class:`UsageError` when it is not one of this format."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_no_floats)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"its format is not {FORMAT}")
        body, sig = data["body"], data["signature"]
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise ValueError("its body is not of that format")
        if not isinstance(sig, dict) or sig.get("algorithm") != "ed25519":
            raise ValueError("its signature is not Ed25519")
        key, value = sig["public_key"], sig["value"]
        if not (isinstance(key, str) and isinstance(value, str)):
            raise ValueError("its signature fields are not text")
        manifest, chunks = body["manifest"], body["chunks"]
        if not isinstance(manifest, dict) or not isinstance(chunks, list):
            raise ValueError("it has no manifest summary or chunk list")
        for name in ("objects", "bytes", "chunk_rows"):
            if not isinstance(manifest.get(name), int) or isinstance(manifest[name], bool):
                raise ValueError(f"manifest.{name} is not a whole number")
        if not isinstance(manifest.get("root"), str):
            raise ValueError("it has no Merkle root")
        if not isinstance(body.get("migration_id"), str):
            raise ValueError("it names no migration")
        for side in ("source", "destination"):
            if not isinstance(body.get(side), dict) or not isinstance(body[side].get("url"), str):
                raise ValueError(f"it has no {side} URL")
        for chunk in chunks:
            _check_chunk_fields(chunk)
    except RecursionError:
        raise UsageError(
            f"{where} is not a passerelle migration certificate (nested too deeply); give the "
            "JSON written by `passerelle migrate certificate`."
        ) from None
    except (KeyError, TypeError, UnicodeError, ValueError) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise UsageError(
            f"{where} is not a passerelle migration certificate ({detail}); give the JSON "
            "written by `passerelle migrate certificate`."
        ) from None
    return Certificate(body, key, value)


def _check_chunk_fields(chunk: Any) -> None:
    if not isinstance(chunk, dict):
        raise ValueError("a chunk is not an object")
    for name in ("index", "first_row", "rows", "bytes"):
        if not isinstance(chunk.get(name), int) or isinstance(chunk[name], bool):
            raise ValueError(f"a chunk's {name} is not a whole number")
    for name in ("first_key", "last_key", "root"):
        if not isinstance(chunk.get(name), str):
            raise ValueError(f"a chunk's {name} is not text")
    for name in ("first_key", "last_key"):
        try:
            chunk[name].encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"a chunk's {name} is not valid Unicode") from None


def signature_valid(public_key: str, signature: str, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key)).verify(
            bytes.fromhex(signature), message
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def _chunk_name(c: dict[str, Any]) -> str:
    first, last = c["first_row"] + 1, c["first_row"] + c["rows"]
    return f"chunk {c['index']} (rows {first}-{last}, keys {c['first_key']!r} to {c['last_key']!r})"


def check_arithmetic(check: CertificateCheck) -> None:
    body = check.certificate.body
    manifest, chunks = body["manifest"], body["chunks"]
    rows_per_chunk = manifest["chunk_rows"]
    row, total_bytes, previous = 0, 0, None
    for n, c in enumerate(chunks):
        if c["index"] != n or c["first_row"] != row:
            check.add(f"Chunk {n} of the certificate does not start at row {row + 1}.")
        if c["first_key"].encode() > c["last_key"].encode() or (
            previous is not None and c["first_key"].encode() <= previous.encode()
        ):
            check.add(f"The key ranges of the certificate's chunks overlap at chunk {n}.")
        row, total_bytes, previous = row + c["rows"], total_bytes + c["bytes"], c["last_key"]
    if row != manifest["objects"] or total_bytes != manifest["bytes"]:
        check.add(
            f"The certificate says {manifest['objects']} objects and {manifest['bytes']} bytes "
            f"but its chunks hold {row} rows and {total_bytes} bytes."
        )
    try:
        pairs = [(c["rows"], bytes.fromhex(c["root"])) for c in chunks]
        root = combine(pairs, rows_per_chunk).hex()
    except ValueError:
        check.add("The certificate's chunks are not of its chunk size, or a root is not hex.")
        return
    if root != manifest["root"]:
        check.add("The certificate's chunk roots do not combine into its Merkle root.")


class ChunkMatcher:
    """Rows in key order placed into the certificate's chunks by key range."""

    def __init__(self, check: CertificateCheck, source: str) -> None:
        self.check, self.source = check, source
        self.chunks: list[dict[str, Any]] = check.certificate.body["chunks"]
        self.at = 0
        self.builder = MerkleBuilder()
        self.first: str | None = None
        self.last: str | None = None
        self.previous: bytes | None = None

    def add(self, number: int, key: str, size: int, sha256: str) -> None:
        raw = key.encode("utf-8")
        if self.previous is not None and raw <= self.previous:
            self.check.add(
                f"Row {number} of {self.source} ({key!r}) is not after the row before it: "
                "rows must be sorted by key, each key once."
            )
        self.previous = raw
        while self.at < len(self.chunks) and raw > self.chunks[self.at]["last_key"].encode():
            self._close()
        if self.at >= len(self.chunks) or raw < self.chunks[self.at]["first_key"].encode():
            self.check.add(
                f"Row {number} of {self.source} ({key!r}, {size} bytes) is not in the "
                "certificate: no chunk's key range holds it (an added row)."
            )
            return
        try:
            self.builder.add(leaf_hash(key, size, sha256))
        except ValueError:
            self.check.add(f"Row {number} of {self.source} ({key!r}) is malformed.")
            return
        self.first = key if self.first is None else self.first
        self.last = key

    def _close(self) -> None:
        c = self.chunks[self.at]
        name, rows = _chunk_name(c), self.builder.count
        if rows < c["rows"]:
            lost = ""
            if self.first != c["first_key"]:
                lost = f"; its first row {c['first_key']!r} is gone"
            elif self.last != c["last_key"]:
                lost = f"; its last row {c['last_key']!r} is gone"
            self.check.add(
                f"{name.capitalize()} has {rows} rows in {self.source} instead of "
                f"{c['rows']}: a row was removed{lost}."
            )
        elif rows > c["rows"]:
            self.check.add(
                f"{name.capitalize()} has {rows} rows in {self.source} instead of "
                f"{c['rows']}: a row was added."
            )
        elif self.builder.root().hex() != c["root"]:
            self.check.add(
                f"{name.capitalize()} differs from the certificate in {self.source}: a row's "
                "size or SHA-256 was changed, or rows were reordered."
            )
        self.at += 1
        self.builder, self.first, self.last = MerkleBuilder(), None, None

    def finish(self) -> None:
        while self.at < len(self.chunks):
            self._close()


def manifest_rows(handle: IO[str], check: CertificateCheck) -> Iterator[tuple[int, str, int, str]]:
    reader = csv.reader(handle, strict=True)
    try:
        header = next(reader, None)
        if header is None or tuple(header[:3]) != MANIFEST_HEADER:
            raise UsageError(
                "The manifest does not start with the header key,size,sha256; give the CSV "
                "written by `passerelle migrate certificate --manifest-output`."
            )
        for number, fields in enumerate(reader, start=1):
            size = fields[1] if len(fields) >= 3 else ""
            digest = fields[2] if len(fields) >= 3 else ""
            where = f"Row {number} of the manifest"
            if len(fields) != 3:
                check.add(f"{where} has {len(fields)} fields, not key,size,sha256.")
                continue
            if not (size.isascii() and size.isdigit() and len(size) <= 20 and int(size) < 1 << 64):
                check.add(f"{where} has no valid size (decimal digits, below 2^64).")
                continue
            if len(digest) != 64 or set(digest) - _HEX:
                check.add(f"{where} has no valid SHA-256 (64 lowercase hex digits).")
                continue
            yield number, fields[0], int(size), digest
    except (csv.Error, UnicodeDecodeError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        raise UsageError(
            f"The manifest is not valid CSV ({reason}); give the file as written."
        ) from None
