"""Copy what the plan says, in parallel, with proof, retries, caps and crash-safe state.

Each key is claimed (``copying``) in the journal before it is copied and
recorded ``done`` only after the destination holds the bytes and their digests.
After a crash, keys left ``copying`` are checked at the destination: a finished
copy of the same source version is adopted, anything else is copied again, and
incomplete uploads are aborted first -- except the journaled resumable upload of
a large object, which continues from its completed parts (:mod:`.parts`).  Where
the destination may hold a key only as ciphertext (``RunOptions.ciphertext_only``, or
what the journal carries), the source reader checks the object's first bytes before the
copy starts: a plaintext object is recorded ``failed`` with the rule and never written
(:mod:`passerelle.sovereignty.ciphertext_guard`).  A single writer (this thread)
touches the journal; worker threads only move bytes and queue upload events for it.
"""

from __future__ import annotations

import base64
import fcntl
import os
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from passerelle.errors import (
    ContainerNotFoundError,
    ObjectNotFoundError,
    PasserelleError,
    PreconditionFailedError,
    TransientError,
    UsageError,
)
from passerelle.migration.copy import (
    MD5_KEY,
    SHA256_KEY,
    SMALL_OBJECT_LIMIT,
    SOURCE_ETAG_KEY,
    stream_copy,
)
from passerelle.migration.journal import Journal, ObjectRow, now_iso
from passerelle.migration.limits import LimitedStore, TokenBucket
from passerelle.migration.parts import ResumeSlot, resumable_copy
from passerelle.migration.planner import PlanOptions
from passerelle.migration.upload_log import UploadEvent, UploadState
from passerelle.sovereignty.ciphertext_guard import PlaintextRefusedError, guard_source
from passerelle.storage import FaultInjectingStore, FaultPlan, Store, open_store
from passerelle.storage.config import StorageConfig
from passerelle.storage.retry import RetryPolicy, call_with_retries

if TYPE_CHECKING:
    from passerelle.sovereignty.ciphertext_guard import CiphertextOnly

__all__ = [
    "CIPHERTEXT_ONLY_META",
    "JournalLock",
    "ProgressSink",
    "RunOptions",
    "RunSummary",
    "run_migration",
]

CIPHERTEXT_ONLY_META = "ciphertext_only"
"""Journal meta key: the keys the destination may hold only as envelopes (JSON of
:class:`~passerelle.sovereignty.ciphertext_guard.CiphertextOnly`), written by a hub's move."""


class ProgressSink(Protocol):
    """Where a run reports progress (the CLI draws it; tests count it)."""

    def start(self, objects: int, total_bytes: int) -> None: ...
    def advance(self, objects: int, nbytes: int) -> None: ...
    def retry(self) -> None: ...
    def finish(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RunOptions:
    concurrency: int = 16
    part_size: int | None = None
    max_bandwidth: float | None = None
    max_requests_per_second: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    faults: FaultPlan | None = None
    memory_budget: int = 192 * 1024 * 1024
    claim_batch: int = 256
    flush_every_s: float = 0.25
    ciphertext_only: CiphertextOnly | None = None
    """Keys the destination may hold only as envelopes: each one's first bytes are checked
    as it is copied, and one that is not an envelope is refused (not written). Default:
    what the journal carries (``CIPHERTEXT_ONLY_META``), else nothing is checked."""


@dataclass(slots=True)
class RunSummary:
    copied: int = 0
    bytes: int = 0
    adopted: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    changed: list[tuple[str, str]] = field(default_factory=list)
    retries: int = 0
    seconds: float = 0.0
    remaining: int = 0
    parts_sent: int = 0
    parts_reused: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)
    """Keys refused as plaintext for a ciphertext-only destination (also in ``failed``)."""

    @property
    def complete(self) -> bool:
        return not self.failed and not self.changed and self.remaining == 0


class JournalLock:
    """An exclusive lock beside the journal, released by the OS even on kill -9."""

    def __init__(self, journal_path: str | Path) -> None:
        self.path = Path(f"{journal_path}.lock")
        self._fd: int | None = None

    def __enter__(self) -> JournalLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UsageError(
                f"Another passerelle process (pid {holder}) is running on this journal; "
                "wait for it or stop it."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @staticmethod
    def held(journal_path: str | Path) -> bool:
        path = Path(f"{journal_path}.lock")
        if not path.exists():
            return False
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False


def _limited(src: Store, dst: Store, options: RunOptions) -> tuple[Store, Store]:
    if options.faults is not None:
        src = FaultInjectingStore(src, options.faults)
        dst = FaultInjectingStore(dst, replace(options.faults, seed=options.faults.seed + 1))
    if options.max_bandwidth:
        src = LimitedStore(src, bandwidth=TokenBucket(options.max_bandwidth, options.max_bandwidth))
    if options.max_requests_per_second:
        dst = LimitedStore(dst, requests=TokenBucket(options.max_requests_per_second))
    return src, dst


def _md5_hex(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return base64.b64decode(value).hex()
    except ValueError:
        return None


def _adopt_or_requeue(
    journal: Journal, dst: Store, rows: list[ObjectRow], started: datetime
) -> int:
    """Settle keys a dead run left ``copying``; return how many finished copies were adopted."""
    adopted: list[dict[str, Any]] = []
    requeue: list[str] = []
    forget: list[UploadEvent] = []
    for row in rows:
        upload = journal.upload_state(row.key)  # a resume continues this one: keep it
        dst.abort_uploads(row.key, older_than=started, keep=upload.upload_id if upload else None)
        try:
            info = dst.head(row.key)
        except ObjectNotFoundError:
            requeue.append(row.key)
            continue
        meta = info.metadata or {}
        source_etag = (row.source_etag or "").strip('"')
        if (
            meta.get(SHA256_KEY)
            and meta.get(SOURCE_ETAG_KEY) == source_etag[:200]
            and info.size == row.size
        ):
            adopted.append(
                {
                    "key": row.key,
                    "status": "done",
                    "sha256": meta[SHA256_KEY],
                    "md5": _md5_hex(meta.get(MD5_KEY)),
                    "dest_etag": info.etag,
                    "parts": None,
                    "copied_at": now_iso(),
                }
            )
            if upload is not None:  # finished already: its upload is not needed any more
                ResumeSlot(upload, forget.append).abandon(dst)
        else:
            requeue.append(row.key)
    journal.record_upload_events(forget)
    journal.record_outcomes(adopted)
    journal.requeue(requeue)
    return len(adopted)


def _journal_rules(journal: Journal) -> CiphertextOnly | None:
    import json

    from passerelle.sovereignty.ciphertext_guard import rules_of

    raw = journal.meta.get(CIPHERTEXT_ONLY_META)
    return rules_of(json.loads(raw)) if raw else None


def _ensure_container(dst: Store) -> None:
    try:
        next(iter(dst.list(page_size=1)), None)
    except ContainerNotFoundError:
        dst.create_container()


def run_migration(
    journal_path: str | Path,
    options: RunOptions = RunOptions(),
    *,
    config: StorageConfig | None = None,
    source: Store | None = None,
    dest: Store | None = None,
    progress: ProgressSink | None = None,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Copy every pending key of the journal; safe to re-run at any time."""
    journal = Journal.open(journal_path)
    with JournalLock(journal_path):
        try:
            return _run(journal, options, config, source, dest, progress, stop)
        finally:
            journal.close()


def _run(
    journal: Journal,
    options: RunOptions,
    config: StorageConfig | None,
    source: Store | None,
    dest: Store | None,
    progress: ProgressSink | None,
    stop: threading.Event | None,
) -> RunSummary:
    plan = PlanOptions.from_json(journal.options)
    part_size = options.part_size or plan.part_size
    src = source or open_store(journal.source_url, config=config)
    dst = dest or open_store(journal.dest_url, config=config)
    src, dst = _limited(src, dst, options)
    src = guard_source(src, options.ciphertext_only or _journal_rules(journal))
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    summary = RunSummary()
    journal.ensure_upload_tables()
    pass_id = journal.start_pass("run")
    _ensure_container(dst)
    summary.adopted = _adopt_or_requeue(journal, dst, journal.interrupted(), started_at)
    journal.requeue_failed()
    counts = journal.counts()
    pending = counts.get("pending", {"objects": 0, "bytes": 0})
    if progress:
        progress.start(pending["objects"], pending["bytes"])
    retry_lock = threading.Lock()
    # A large object holds about three parts in memory (the part being filled and
    # two in flight): cap how many stream at once so memory stays within budget.
    large_slots = threading.BoundedSemaphore(
        max(1, min(options.concurrency, options.memory_budget // (3 * part_size)))
    )

    resumable = dst.capabilities.resumable_upload
    events: queue.SimpleQueue[UploadEvent] = queue.SimpleQueue()

    def copy_one(row: ObjectRow, upload: UploadState | None) -> dict[str, Any]:
        if row.size > SMALL_OBJECT_LIMIT:
            with large_slots:
                return copy_object(row, ResumeSlot(upload, events.put) if resumable else None)
        return copy_object(row, None)

    def copy_fn(row: ObjectRow, slot: ResumeSlot | None) -> Any:
        if slot is not None:
            return lambda: resumable_copy(
                src,
                row.key,
                dst,
                slot,
                part_size=part_size,
                if_match=row.source_etag,
                storage_class=row.dest_class,
            )
        return lambda: stream_copy(
            src,
            row.key,
            dst,
            part_size=part_size,
            if_match=row.source_etag,
            storage_class=row.dest_class,
        )

    def copy_object(row: ObjectRow, slot: ResumeSlot | None) -> dict[str, Any]:
        retries = 0

        def on_retry(attempt: int, exc: TransientError, delay: float) -> None:
            nonlocal retries
            retries += 1
            with retry_lock:
                summary.retries += 1
            if progress:
                progress.retry()

        outcome: dict[str, Any] = {"key": row.key, "retries": 0}
        try:
            result = call_with_retries(copy_fn(row, slot), options.retry, on_retry=on_retry)
        except PreconditionFailedError:
            outcome.update(status="changed", error="the source changed during the copy")
        except ObjectNotFoundError:
            outcome.update(status="changed", error="the source was deleted before the copy")
        except PlaintextRefusedError as exc:  # nothing was written to the destination
            outcome.update(status="failed", error=str(exc), refused=exc.rule)
        except PasserelleError as exc:
            outcome.update(status="failed", error=str(exc))
        except Exception as exc:  # a bug or an SDK surprise must not stop the run
            outcome.update(status="failed", error=f"unexpected {type(exc).__name__}: {exc}")
        else:
            outcome.update(
                status="done",
                sha256=result.sha256,
                md5=result.md5,
                dest_etag=result.destination_etag,
                parts=result.parts,
                copied_at=now_iso(),
            )
        if slot is not None:
            if outcome["status"] != "done":
                slot.abandon(dst)  # no incomplete upload left behind
            outcome["parts_sent"], outcome["parts_reused"] = slot.sent, slot.reused
        outcome["retries"] = retries
        outcome["size"] = row.size
        return outcome

    buffered: list[dict[str, Any]] = []
    last_flush = time.monotonic()

    counters = ("size", "parts_sent", "parts_reused", "refused")

    def flush() -> None:
        nonlocal last_flush
        pending_events: list[UploadEvent] = []
        while not events.empty():
            pending_events.append(events.get())
        if pending_events:
            journal.record_upload_events(pending_events)
        if buffered:
            journal.record_outcomes(
                [{k: v for k, v in o.items() if k not in counters} for o in buffered]
            )
            for o in buffered:
                summary.parts_sent += o.get("parts_sent", 0)
                summary.parts_reused += o.get("parts_reused", 0)
                if o["status"] == "done":
                    summary.copied += 1
                    summary.bytes += o["size"]
                elif o["status"] == "changed":
                    summary.changed.append((o["key"], o["error"]))
                else:
                    summary.failed.append((o["key"], o["error"]))
                    if o.get("refused"):
                        summary.refused.append((o["key"], o["error"]))
            buffered.clear()
        last_flush = time.monotonic()

    def claims() -> Iterator[ObjectRow]:
        after = ""
        while not (stop and stop.is_set()):
            batch = journal.claim_batch(after, options.claim_batch)
            if not batch:
                return
            after = batch[-1].key
            yield from batch

    in_flight: set[Future[dict[str, Any]]] = set()
    limit = max(1, options.concurrency) * 2
    with ThreadPoolExecutor(
        max_workers=max(1, options.concurrency), thread_name_prefix="passerelle-copy"
    ) as pool:
        claimed = claims()
        exhausted = False
        while True:
            while not exhausted and len(in_flight) < limit:
                row = next(claimed, None)
                if row is None:
                    exhausted = True
                    break
                upload = (
                    journal.upload_state(row.key)
                    if resumable and row.size > SMALL_OBJECT_LIMIT
                    else None
                )
                in_flight.add(pool.submit(copy_one, row, upload))
            if not in_flight:
                break
            done, in_flight = wait(
                in_flight, timeout=options.flush_every_s, return_when=FIRST_COMPLETED
            )
            for future in done:
                outcome = future.result()
                buffered.append(outcome)
                if progress:
                    progress.advance(1, outcome["size"] if outcome["status"] == "done" else 0)
            if len(buffered) >= 200 or time.monotonic() - last_flush >= options.flush_every_s:
                flush()
        flush()
    if stop and stop.is_set():
        journal.requeue(k.key for k in journal.interrupted())
    summary.remaining = journal.counts().get("pending", {"objects": 0})["objects"]
    summary.seconds = time.perf_counter() - started
    journal.finish_pass(
        pass_id,
        "complete" if summary.complete else "incomplete",
        {
            "copied": summary.copied,
            "bytes": summary.bytes,
            "adopted": summary.adopted,
            "failed": len(summary.failed),
            "changed": len(summary.changed),
            "retries": summary.retries,
            "parts_sent": summary.parts_sent,
            "parts_reused": summary.parts_reused,
            "seconds": round(summary.seconds, 3),
        },
    )
    if progress:
        progress.finish()
    return summary
