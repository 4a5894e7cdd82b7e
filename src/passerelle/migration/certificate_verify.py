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

import hashlib
import random
import sqlite3
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, TypeVar

from passerelle.errors import ObjectNotFoundError, PasserelleError, UsageError
from passerelle.migration.certificate import signed_message
from passerelle.migration.certificate_check import (
    CertificateCheck,
    ChunkMatcher,
    check_arithmetic,
    load_certificate,
    manifest_rows,
    signature_valid,
)
from passerelle.storage import Store

__all__ = ["CertificateCheck", "load_certificate", "signature_valid", "verify_certificate"]

T = TypeVar("T")
R = TypeVar("R")


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
    check_arithmetic(check)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        if manifest is not None and sample is not None and against is not None:
            matcher = ChunkMatcher(check, "the manifest")
            kept = _reservoir(
                _matched(manifest_rows(manifest, check), matcher, check),
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
    rows: Iterator[tuple[int, str, int, str]], matcher: ChunkMatcher, check: CertificateCheck
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
    matcher = ChunkMatcher(check, "the manifest")
    rows = _matched(manifest_rows(manifest, check), matcher, check)
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
    matcher = ChunkMatcher(check, "the destination")
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
