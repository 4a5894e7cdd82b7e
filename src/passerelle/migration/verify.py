"""Prove the destination holds what the journal says was copied, object by object.

Fast mode lists the destination and reads each object's stored digest (one HEAD
each); deep mode re-reads every destination object and re-hashes it, and with
``check_source`` re-hashes the source too.  Sizes alone never count as proof.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from passerelle.errors import ObjectNotFoundError, PasserelleError
from passerelle.migration.copy import SHA256_KEY, hash_object
from passerelle.migration.decide import KeyFilter, same_etag
from passerelle.migration.journal import Journal, ObjectRow
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


def _check(
    row: ObjectRow,
    size: int,
    etag: str | None,
    dst: Store,
    src: Store,
    deep: bool,
    check_source: bool,
) -> str:
    """``ok`` or the kind of problem for one object present at the destination."""
    try:
        if size != row.size:
            return "size mismatch"
        changed = bool(row.dest_etag and etag and not same_etag(etag, row.dest_etag))
        if deep:
            got_size, digest = hash_object(dst, row.key)
            if got_size != row.size:
                return "size mismatch"
        elif changed:
            return "changed at destination"
        else:
            digest = (dst.head(row.key).metadata or {}).get(SHA256_KEY, "")
        if digest != row.sha256:
            return "digest mismatch"
        if changed:
            return "changed at destination"
        if check_source:
            _, source_digest = hash_object(src, row.key)
            if source_digest != row.sha256:
                return "source digest mismatch"
    except ObjectNotFoundError:
        return "missing"
    except PasserelleError as exc:
        return f"error: {exc}"
    return "ok"


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
    window: int,
) -> Iterator[R]:
    """``pool.map`` that keeps at most ``window`` items in flight (flat memory)."""
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
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
) -> VerifyReport:
    """Check every planned object at the destination; see :class:`VerifyReport`."""
    journal = Journal.open(journal_path)
    started = time.perf_counter()
    report = VerifyReport(deep=deep)
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
                return row.key, _check(row, size, etag, dst, src, deep, check_source)

            results: list[tuple[str, str]] = []
            with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
                for key, outcome in _bounded_map(pool, check, to_check(), window=concurrency * 4):
                    report.checked += 1
                    results.append((key, outcome))
                    if outcome == "ok":
                        report.verified += 1
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
                },
            )
    finally:
        journal.close()
    return report
