"""Check a migration certificate offline: no journal, no hub, only the file and what you give.

Checks, each problem one sentence: the Ed25519 signature over the canonical
bytes (against the pinned key when given), the certificate's own arithmetic
(chunks contiguous, counts and bytes, chunk roots combining into the root), a
CSV manifest against the chunk roots (rows are placed in chunks by key range, so
an added or removed row is located without shifting every later chunk), and the
destination's objects, read and hashed (all of them, or a sample of the
manifest's rows). Without a manifest, ``against`` rebuilds the rows from the
destination itself (listed, sorted in a temporary SQLite file, hashed).
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import sqlite3
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from passerelle.errors import ObjectNotFoundError, PasserelleError, UsageError
from passerelle.migration.certificate import FORMAT, MANIFEST_HEADER, Certificate, signed_message
from passerelle.migration.merkle import MerkleBuilder, combine, leaf_hash
from passerelle.storage import Store

__all__ = ["CertificateCheck", "load_certificate", "signature_valid", "verify_certificate"]

MAX_PROBLEMS = 200
_HEX = frozenset("0123456789abcdef")
T = TypeVar("T")
R = TypeVar("R")


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
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(sentence)


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
        for chunk in chunks:
            _check_chunk_fields(chunk)
    except (KeyError, TypeError, UnicodeDecodeError, ValueError) as exc:
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


def _check_arithmetic(check: CertificateCheck) -> None:
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


class _ChunkMatcher:
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
            self.check.add(f"Row {number} of {self.source} ({key!r}) has a malformed SHA-256.")
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


def _manifest_rows(handle: IO[str], check: CertificateCheck) -> Iterator[tuple[int, str, int, str]]:
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
            if not size.isascii() or not size.isdigit() or len(digest) != 64 or set(digest) - _HEX:
                check.add(f"Row {number} of the manifest is not key,size,sha256 (lowercase hex).")
                continue
            yield number, fields[0], int(size), digest
    except csv.Error as exc:
        raise UsageError(
            f"The manifest is not valid CSV ({exc}); give the file as written."
        ) from None


def _bounded(
    pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T], window: int
) -> Iterator[R]:
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _hash(store: Store, key: str) -> tuple[int, str] | str:
    """(size, SHA-256) of the object's bytes, or why it cannot be read."""
    sha, size = hashlib.sha256(), 0
    try:
        for chunk in store.get(key):
            sha.update(chunk)
            size += len(chunk)
    except ObjectNotFoundError:
        return "missing"
    except PasserelleError as exc:
        return str(exc)
    return size, sha.hexdigest()


def _compare(check: CertificateCheck, key: str, size: int, digest: str, got: Any) -> None:
    check.objects_checked += 1
    if got == "missing":
        check.add(f"Object {key!r} is missing at the destination.")
    elif isinstance(got, str):
        check.add(f"Object {key!r} could not be read at the destination ({got.rstrip('.')}).")
    elif got[0] != size:
        check.add(
            f"Object {key!r} at the destination holds {got[0]} bytes, the certificate {size}."
        )
    elif got[1] != digest:
        check.add(
            f"Object {key!r} at the destination has SHA-256 {got[1][:16]}..., the certificate "
            f"{digest[:16]}...: it was overwritten or damaged."
        )


def _listing_db(store: Store, folder: str) -> sqlite3.Connection:
    conn = sqlite3.connect(Path(folder) / "listing.db")
    conn.execute("CREATE TABLE listed (key BLOB PRIMARY KEY, size INTEGER, seen INTEGER)")
    batch: list[tuple[bytes, int]] = []
    for info in store.list():
        batch.append((info.key.encode("utf-8"), info.size))
        if len(batch) >= 5000:
            conn.executemany("INSERT OR REPLACE INTO listed VALUES (?, ?, 0)", batch)
            batch.clear()
    conn.executemany("INSERT OR REPLACE INTO listed VALUES (?, ?, 0)", batch)
    return conn


def _reservoir(rows: Iterator[tuple[int, str, int, str]], n: int, rng: random.Random) -> list[Any]:
    kept: list[Any] = []
    for seen, row in enumerate(rows):
        if seen < n:
            kept.append(row)
        else:
            j = rng.randint(0, seen)
            if j < n:
                kept[j] = row
    return kept


def verify_certificate(
    text: str | bytes,
    *,
    public_key: str | None = None,
    manifest: IO[str] | None = None,
    against: Store | None = None,
    sample: int | None = None,
    concurrency: int = 8,
    rng: random.Random | None = None,
) -> CertificateCheck:
    """Every check the inputs allow; the result lists each problem as a sentence."""
    cert = load_certificate(text)
    check = CertificateCheck(cert, pinned=public_key is not None)
    if sample is not None and (sample < 1 or manifest is None or against is None):
        raise UsageError("--sample needs a positive number, --manifest and --against.")
    if public_key is not None and public_key.lower() != cert.public_key.lower():
        check.add(
            f"The certificate is signed by key {cert.public_key[:16]}..., not by the pinned key "
            f"{public_key[:16]}...: it comes from another hub or was re-signed."
        )
    if not signature_valid(cert.public_key, cert.signature, signed_message(cert.body)):
        check.add(
            "The signature does not match the certificate's content: it was edited after "
            "signing (or the signature was changed)."
        )
    _check_arithmetic(check)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        if manifest is not None and sample is not None and against is not None:
            matcher = _ChunkMatcher(check, "the manifest")
            kept = _reservoir(
                _matched(_manifest_rows(manifest, check), matcher, check),
                sample,
                rng or random.Random(),
            )
            matcher.finish()
            for (_, key, size, digest), got in zip(
                kept,
                _bounded(pool, lambda r: _hash(against, r[1]), kept, concurrency * 4),
                strict=True,
            ):
                _compare(check, key, size, digest, got)
        elif manifest is not None:
            _check_manifest(check, manifest, against, pool, concurrency)
        elif against is not None:
            _rebuild_from(check, against, pool, concurrency)
    return check


def _matched(
    rows: Iterator[tuple[int, str, int, str]], matcher: _ChunkMatcher, check: CertificateCheck
) -> Iterator[tuple[int, str, int, str]]:
    for row in rows:
        matcher.add(*row)
        check.rows_checked += 1
        yield row


def _check_manifest(
    check: CertificateCheck,
    manifest: IO[str],
    against: Store | None,
    pool: ThreadPoolExecutor,
    concurrency: int,
) -> None:
    matcher = _ChunkMatcher(check, "the manifest")
    rows = _matched(_manifest_rows(manifest, check), matcher, check)
    if against is None:
        for _ in rows:
            pass
        matcher.finish()
        return
    with tempfile.TemporaryDirectory(prefix="passerelle-cert-") as folder:
        listed = _listing_db(against, folder)

        def look(row: tuple[int, str, int, str]) -> tuple[tuple[int, str, int, str], Any]:
            return row, _hash(against, row[1])

        for (_, key, size, digest), got in _bounded(pool, look, rows, concurrency * 4):
            listed.execute("UPDATE listed SET seen = 1 WHERE key = ?", (key.encode(),))
            _compare(check, key, size, digest, got)
        matcher.finish()
        for (raw,) in listed.execute("SELECT key FROM listed WHERE seen = 0 ORDER BY key"):
            check.add(f"Object {raw.decode()!r} is at the destination but not in the certificate.")
        listed.close()


def _rebuild_from(
    check: CertificateCheck, against: Store, pool: ThreadPoolExecutor, concurrency: int
) -> None:
    matcher = _ChunkMatcher(check, "the destination")
    with tempfile.TemporaryDirectory(prefix="passerelle-cert-") as folder:
        listed = _listing_db(against, folder)
        keys = (raw.decode() for (raw,) in listed.execute("SELECT key FROM listed ORDER BY key"))

        def look(key: str) -> tuple[str, Any]:
            return key, _hash(against, key)

        for number, (key, got) in enumerate(_bounded(pool, look, keys, concurrency * 4), 1):
            check.objects_checked += 1
            if isinstance(got, str):
                check.add(f"Object {key!r} could not be read at the destination ({got}).")
                continue
            matcher.add(number, key, got[0], got[1])
            check.rows_checked += 1
        matcher.finish()
        listed.close()
