"""Prove the destination holds what the journal says was copied, object by object.

Fast mode lists the destination and reads each object's stored digest (one HEAD
each); deep mode re-reads every destination object and re-hashes it, and with
``check_source`` re-hashes the source too.  Sizes alone never count as proof.
With ``decrypt`` (a :class:`~passerelle.migration.decrypt_check.DecryptCheck`), deep
mode also decrypts every envelope in the same read and checks its authenticated
plaintext SHA-256 (:mod:`passerelle.migration.decrypt_check`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from passerelle.errors import ObjectNotFoundError, PasserelleError, UsageError
from passerelle.migration.copy import SHA256_KEY, hash_object
from passerelle.migration.decide import KeyFilter, same_etag
from passerelle.migration.decrypt_check import DecryptCheck, DecryptOutcome
from passerelle.migration.journal import Journal, ObjectRow
from passerelle.migration.pacing import HOLD_POLL_S, Pacer
from passerelle.migration.planner import PlanOptions
from passerelle.migration.runner import JournalLock
from passerelle.storage import Store, open_store
from passerelle.storage.config import StorageConfig

__all__ = ["VerifyReport", "verify_migration"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class VerifyReport:
    checked: int = 0
    verified: int = 0
    deep: bool = False
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    size_mismatch: list[str] = field(default_factory=list)
    digest_mismatch: list[str] = field(default_factory=list)
    source_mismatch: list[str] = field(default_factory=list)
    changed_at_destination: list[str] = field(default_factory=list)
    not_copied: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    decrypt: bool = False
    decrypted: int = 0  # envelopes whose authenticated plaintext SHA-256 checked out
    plaintext_objects: int = 0  # not envelopes: proven by their stored bytes only
    undecryptable: list[tuple[str, str]] = field(default_factory=list)  # (key, sentence)

    @property
    def ok(self) -> bool:
        return not (
            self.missing
            or self.extra
            or self.size_mismatch
            or self.digest_mismatch
            or self.source_mismatch
            or self.not_copied
            or self.errors
            or self.changed_at_destination
            or self.undecryptable
        )

    def problems(self) -> Iterator[tuple[str, str]]:
        """(kind, key) pairs of everything wrong, in a stable order."""
        for kind, keys in (
            ("missing", self.missing),
            ("extra", self.extra),
            ("size mismatch", self.size_mismatch),
            ("digest mismatch", self.digest_mismatch),
            ("source digest mismatch", self.source_mismatch),
            ("changed at destination", self.changed_at_destination),
        ):
            for key in keys:
                yield kind, key
        for key, status in self.not_copied:
            yield f"not copied ({status})", key
        for key, error in self.errors:
            yield f"unreadable ({error})", key
        for key, sentence in self.undecryptable:
            yield f"not decryptable ({sentence})", key


def _check(
    row: ObjectRow,
    size: int,
    etag: str | None,
    dst: Store,
    src: Store,
    deep: bool,
    check_source: bool,
    decrypt: DecryptCheck | None = None,
) -> str:
    """``ok`` (``ok plaintext`` / ``ok decrypted`` with ``decrypt``) or the kind of problem
    for one object present at the destination."""
    opened: DecryptOutcome | None = None
    try:
        if size != row.size:
            return "size mismatch"
        changed = bool(row.dest_etag and etag and not same_etag(etag, row.dest_etag))
        if deep:
            if decrypt is not None:
                opened = decrypt.check(dst, row.key, size)  # one read: bytes, plaintext
                got_size, digest = opened.size, opened.sha256
            else:
                got_size, digest = hash_object(dst, row.key)
            if got_size != row.size:
                return _broken(opened, "its stored size differs from the copy's") or (
                    "size mismatch"
                )
        elif changed:
            return "changed at destination"
        else:
            digest = (dst.head(row.key).metadata or {}).get(SHA256_KEY, "")
        if digest != row.sha256:
            return _broken(opened, "its stored bytes differ from those copied") or (
                "digest mismatch"
            )
        if changed:
            return "changed at destination"
        if opened is not None and opened.problem:
            return f"undecryptable: {opened.problem}"
        if check_source:
            _, source_digest = hash_object(src, row.key)
            if source_digest != row.sha256:
                return "source digest mismatch"
    except ObjectNotFoundError:
        return "missing"
    except PasserelleError as exc:
        return f"error: {exc}"
    if opened is not None:
        return "ok decrypted" if opened.envelope else "ok plaintext"
    return "ok"


def _broken(opened: DecryptOutcome | None, fact: str) -> str | None:
    """The outcome of an envelope whose stored bytes are wrong: ``fact`` and why it fails."""
    if opened is None or not opened.problem:
        return None
    return f"undecryptable: {fact} and {opened.problem}"


def _listing_pages(store: Store, keep: KeyFilter) -> Iterator[list[tuple[object, ...]]]:
    page: list[tuple[object, ...]] = []
    for info in store.list():
        if keep(info.key):
            page.append((info.key, info.size, info.etag, None, None))
            if len(page) >= 5000:
                yield page
                page = []
    if page:
        yield page


def _bounded_map(
    pool: ThreadPoolExecutor,
    fn: Callable[[T], R],
    items: Iterator[T],
    *,
    window: Callable[[], int],
) -> Iterator[R]:
    """``pool.map`` that keeps at most ``window()`` items in flight (flat memory); the
    window is asked again after each submit, so a pacer can narrow it while it runs."""
    pending: deque[Future[R]] = deque()
    for item in items:
        while not pending and window() <= 0:  # a pacer's hold: nothing may start now
            time.sleep(HOLD_POLL_S)
        pending.append(pool.submit(fn, item))
        while pending and len(pending) >= window():
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def verify_migration(
    journal_path: str | Path,
    *,
    deep: bool = False,
    check_source: bool = False,
    concurrency: int = 16,
    config: StorageConfig | None = None,
    source: Store | None = None,
    dest: Store | None = None,
    decrypt: DecryptCheck | None = None,
    pacer: Pacer | None = None,
) -> VerifyReport:
    """Check every planned object at the destination; see :class:`VerifyReport`.

    ``decrypt`` (deep mode only) also decrypts each envelope with its custody; ``pacer``
    narrows the checks in flight while researchers' queries slow down."""
    if decrypt is not None and not deep:
        raise UsageError("Decrypting re-reads every object: add --deep to --decrypt.")
    journal = Journal.open(journal_path)
    started = time.perf_counter()
    report = VerifyReport(deep=deep, decrypt=decrypt is not None)
    src = source or open_store(journal.source_url, config=config)
    dst = dest or open_store(journal.dest_url, config=config)
    options = PlanOptions.from_json(journal.options)
    keep = KeyFilter(options.include, options.exclude)
    try:
        with JournalLock(journal_path):
            pass_id = journal.start_pass("verify-deep" if deep else "verify")
            journal.replace_inventory("vfy", _listing_pages(dst, keep))
            reader = journal.reader()

            def to_check() -> Iterator[tuple[ObjectRow, int, str | None]]:
                for row, size, etag in reader.iter_against_listing():
                    if row.status in ("extra", "deleted"):
                        if size is not None:
                            report.extra.append(row.key)
                    elif row.status != "done":
                        report.not_copied.append((row.key, row.status))
                    elif size is None:
                        report.missing.append(row.key)
                    else:
                        yield row, size, etag

            def check(item: tuple[ObjectRow, int, str | None]) -> tuple[str, str]:
                row, size, etag = item
                return row.key, _check(row, size, etag, dst, src, deep, check_source, decrypt)

            results: list[tuple[str, str]] = []
            with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
                window = concurrency * 4

                def in_flight() -> int:
                    return pacer.limit(window) if pacer else window

                for key, outcome in _bounded_map(pool, check, to_check(), window=in_flight):
                    report.checked += 1
                    if outcome.startswith("ok "):  # with decrypt: what was proven
                        report.decrypted += outcome == "ok decrypted"
                        report.plaintext_objects += outcome == "ok plaintext"
                        outcome = "ok"
                    results.append((key, outcome))
                    if outcome == "ok":
                        report.verified += 1
                    elif outcome.startswith("undecryptable: "):
                        report.undecryptable.append((key, outcome.removeprefix("undecryptable: ")))
                    elif outcome == "size mismatch":
                        report.size_mismatch.append(key)
                    elif outcome == "digest mismatch":
                        report.digest_mismatch.append(key)
                    elif outcome == "source digest mismatch":
                        report.source_mismatch.append(key)
                    elif outcome == "changed at destination":
                        report.changed_at_destination.append(key)
                    elif outcome == "missing":
                        report.missing.append(key)
                    else:
                        report.errors.append((key, outcome.removeprefix("error: ")))
                    if len(results) >= 1000:
                        journal.record_verification(results)
                        results.clear()
            reader.close()
            journal.record_verification(results)
            report.extra.extend(journal.iter_unplanned("vfy"))
            journal.replace_inventory("vfy", iter(()))
            report.seconds = time.perf_counter() - started
            journal.finish_pass(
                pass_id,
                "clean" if report.ok else "problems",
                {
                    "checked": report.checked,
                    "verified": report.verified,
                    "problems": sum(1 for _ in report.problems()),
                    "deep": deep,
                    **({"decrypt": True, "decrypted": report.decrypted} if decrypt else {}),
                },
            )
    finally:
        journal.close()
    return report
