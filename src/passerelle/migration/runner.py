"""The coordinator: copy what the plan says, with proof, retries, caps and crash-safe state.

Each key is claimed (``copying``) in the journal before it is copied and
recorded ``done`` only after the destination holds the bytes and their digests.
The copy of one key is a plain task (:mod:`.copy_task`) run by an executor
(:mod:`.executor`: this process's thread pool; :mod:`.cluster`: Dask workers);
this coordinator is the journal's only writer: it claims batches, submits
tasks, and records the outcomes and the upload events that come back.  A task
whose worker died comes back ``lost`` and its key is queued again.  After a
crash, keys left ``copying`` are checked at the destination: a finished copy of
the same source version is adopted, anything else is copied again, and
incomplete uploads are aborted first (one listing of the destination's uploads,
matched here) -- except the journaled resumable upload of a large object, which
continues from its completed parts (:mod:`.parts`).  Where the destination may
hold a key only as ciphertext (``RunOptions.ciphertext_only``, or what the journal
carries), the source reader checks the object's first bytes before the copy
starts, in whichever process runs it: a plaintext object is recorded ``failed``
with the rule and never written (:mod:`passerelle.sovereignty.ciphertext_guard`).
"""

from __future__ import annotations

import base64
import fcntl
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from passerelle.errors import ContainerNotFoundError, ObjectNotFoundError, UsageError
from passerelle.migration.copy import MD5_KEY, SHA256_KEY, SMALL_OBJECT_LIMIT, SOURCE_ETAG_KEY
from passerelle.migration.copy_task import (
    CopyOutcome,
    CopyTask,
    StoreSpec,
    portable_config,
    wrap_stores,
)
from passerelle.migration.executor import CopyExecutor, ThreadExecutor
from passerelle.migration.journal import Journal, ObjectRow, now_iso
from passerelle.migration.pacing import Pacer, wait_for_turn
from passerelle.migration.parts import ResumeSlot
from passerelle.migration.planner import PlanOptions
from passerelle.migration.upload_log import UploadEvent
from passerelle.migration.worker_health import WorkerHealth, tally
from passerelle.sovereignty.ciphertext_guard import guard_source
from passerelle.storage import FaultPlan, Store, open_store
from passerelle.storage.config import StorageConfig
from passerelle.storage.retry import RetryPolicy

if TYPE_CHECKING:
    from passerelle.migration.cluster import DaskExecutor
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

LOST_TASK_ROUNDS = 3

HEALTH_EVERY_S = 1.0
"""How often the coordinator asks the executor which workers are alive and journals the table."""
"""Rounds over the keys whose worker died before the run gives up on them (they stay pending)."""


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
    workers: int | None = None
    cluster: str | None = None
    pacer: Pacer | None = None
    """Lowers the copies in flight while researchers' queries slow down (see :mod:`.pacing`)."""

    @property
    def distributed(self) -> bool:
        """Whether the copies run on Dask workers (a local cluster or a scheduler's)."""
        return bool(self.workers or self.cluster)


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
    changed_earlier: int = 0
    changed_earlier_keys: list[tuple[str, str]] = field(default_factory=list)
    lost_reason: str | None = None
    """Why the executor last lost tasks (a dead worker, a scheduler gone), if it did."""

    @property
    def complete(self) -> bool:
        """Nothing is left to do in the journal, whichever run left it."""
        return (
            not self.failed
            and not self.changed
            and self.remaining == 0
            and self.changed_earlier == 0
        )


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
    """Settle keys a dead run left ``copying``; return how many finished copies were adopted.

    The destination's incomplete uploads are listed once and matched here: only a
    claimed key that has one (besides the journaled upload a resume continues)
    costs an abort call.
    """
    adopted: list[dict[str, Any]] = []
    requeue: list[str] = []
    forget: list[UploadEvent] = []
    leftovers: dict[str, set[str]] = {}
    if rows:
        claimed = {row.key for row in rows}
        for incomplete in dst.list_uploads():
            if incomplete.key in claimed:
                leftovers.setdefault(incomplete.key, set()).add(incomplete.upload_id)
    for row in rows:
        upload = journal.upload_state(row.key)  # a resume continues this one: keep it
        keep = upload.upload_id if upload else None
        if leftovers.get(row.key, set()) - {keep}:
            dst.abort_uploads(row.key, older_than=started, keep=keep)
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
    if (source is not None or dest is not None) and options.distributed:
        raise UsageError(
            "Dask workers open the stores from the journal's URLs; "
            "run without --workers/--cluster to copy between stores given in code."
        )
    src, dst = wrap_stores(
        source or open_store(journal.source_url, config=config),
        dest or open_store(journal.dest_url, config=config),
        faults=options.faults,
        max_bandwidth=options.max_bandwidth,
        max_requests_per_second=options.max_requests_per_second,
    )
    rules = options.ciphertext_only or _journal_rules(journal)
    src = guard_source(src, rules)
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    # A large object holds about three parts in memory (the part being filled and
    # two in flight): cap how many stream at once so memory stays within budget.
    large_slots = max(1, min(options.concurrency, options.memory_budget // (3 * part_size)))
    with _open_executor(options, src, dst, large_slots) as executor:
        summary = RunSummary()
        journal.ensure_upload_tables()
        pass_id = journal.start_pass("run")
        _ensure_container(dst)
        summary.adopted = _adopt_or_requeue(journal, dst, journal.interrupted(), started_at)
        journal.requeue_failed()
        pending = journal.counts().get("pending", {"objects": 0, "bytes": 0})
        if progress:
            progress.start(pending["objects"], pending["bytes"])
        spec = _store_spec(journal, options, config, large_slots, rules)
        spec = spec.share(executor.processes)
        journal.ensure_worker_table()
        coordinator = _Coordinator(
            journal, executor, summary, progress, options.flush_every_s, options.pacer, pass_id
        )
        resumable = dst.capabilities.resumable_upload
        for _round in range(LOST_TASK_ROUNDS):  # a dead worker's keys get another round
            lost = coordinator.copy(
                _tasks(journal, spec, options, part_size, resumable, stop, md5=plan.md5)
            )
            if not lost or (stop and stop.is_set()):
                break
    if stop and stop.is_set():
        journal.requeue(k.key for k in journal.interrupted())
    _settle(journal, summary)
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


def _store_spec(
    journal: Journal,
    options: RunOptions,
    config: StorageConfig | None,
    large_slots: int,
    rules: CiphertextOnly | None,
) -> StoreSpec:
    """How any process opens this run's stores (the remotes resolved here for workers)."""
    urls = (journal.source_url, journal.dest_url)
    return StoreSpec(
        *urls,
        config=portable_config(urls, config) if options.distributed else None,
        faults=options.faults,
        max_bandwidth=options.max_bandwidth,
        max_requests_per_second=options.max_requests_per_second,
        large_slots=large_slots,
        run_token=uuid.uuid4().hex,
        ciphertext_only=rules,
    )


def _open_executor(
    options: RunOptions, src: Store, dst: Store, large_slots: int
) -> ThreadExecutor | DaskExecutor:
    """The thread pool here, or Dask workers (``--workers N``, ``--cluster URL``)."""
    if options.cluster:
        from passerelle.migration.cluster import DaskExecutor

        return DaskExecutor.connect(options.cluster)
    if options.workers:
        from passerelle.migration.cluster import DaskExecutor

        threads = -(-max(1, options.concurrency) // options.workers)
        return DaskExecutor.local(options.workers, threads)
    return ThreadExecutor(src, dst, threads=options.concurrency, large_slots=large_slots)


def _tasks(
    journal: Journal,
    spec: StoreSpec,
    options: RunOptions,
    part_size: int,
    resumable: bool,
    stop: threading.Event | None,
    *,
    md5: bool = True,
) -> Iterator[CopyTask]:
    """Claim pending keys batch by batch, one task each (with its journaled upload)."""
    after = ""
    while not (stop and stop.is_set()):
        batch = journal.claim_batch(after, options.claim_batch)
        if not batch:
            return
        after = batch[-1].key
        for row in batch:
            large = resumable and row.size > SMALL_OBJECT_LIMIT
            yield CopyTask(
                key=row.key,
                size=row.size,
                source_etag=row.source_etag,
                dest_class=row.dest_class,
                part_size=part_size,
                stores=spec,
                resumable=large,
                upload=journal.upload_state(row.key) if large else None,
                retry=options.retry,
                md5=md5,
            )


class _Coordinator:
    """Keeps the executor busy and records what comes back; the journal's only writer."""

    def __init__(
        self,
        journal: Journal,
        executor: CopyExecutor,
        summary: RunSummary,
        progress: ProgressSink | None,
        flush_every_s: float,
        pacer: Pacer | None = None,
        pass_id: int = 0,
    ) -> None:
        self.journal = journal
        self.pass_id = pass_id
        self.health: dict[str, WorkerHealth] = {}
        self.seen: list[tuple[str, str, int]] = []  # (worker, status, size) since the last flush
        self.last_health = 0.0
        self.pacer = pacer
        self.executor = executor
        self.summary = summary
        self.progress = progress
        self.flush_every_s = flush_every_s
        self.buffered: list[CopyOutcome] = []
        self.last_flush = time.monotonic()

    def copy(self, tasks: Iterator[CopyTask]) -> list[str]:
        """Run every task; return the keys the executor lost (already back to pending)."""
        lost: list[str] = []
        in_flight = 0
        exhausted = False
        while True:
            while not exhausted and in_flight < self._allowed(in_flight):
                task = next(tasks, None)
                if task is None:
                    exhausted = True
                    break
                self.executor.submit(task)
                in_flight += 1
            if not in_flight:
                break
            for outcome in self.executor.finished(self.flush_every_s):
                in_flight -= 1
                if outcome.status == "lost":
                    lost.append(outcome.key)
                    self.summary.lost_reason = outcome.error or self.summary.lost_reason
                else:
                    self._received(outcome)
            if (
                len(self.buffered) >= 200
                or time.monotonic() - self.last_flush >= self.flush_every_s
            ):
                self.flush()
        self.flush()
        self._record_health(final=True)
        self.journal.requeue(lost)
        return lost

    def _allowed(self, in_flight: int) -> int:
        """Copies that may be in flight now; with none in flight, waits out a pacer's hold
        (recording what came back first), so an empty pipeline never ends the run early."""
        capacity = self.executor.capacity
        if self.pacer is None:
            return capacity
        if in_flight:
            return self.pacer.limit(capacity)
        if self.buffered:
            self.flush()
        return wait_for_turn(self.pacer, capacity)

    def _received(self, outcome: CopyOutcome) -> None:
        self.buffered.append(outcome)
        self.seen.append((outcome.worker, outcome.status, outcome.size))
        self.summary.retries += outcome.retries
        if self.progress:
            for _ in range(outcome.retries):
                self.progress.retry()
            self.progress.advance(1, outcome.size if outcome.status == "done" else 0)

    def flush(self) -> None:
        """Upload events first, then outcomes: a part is journaled before its object."""
        events = self.executor.upload_events()
        if events:
            self.journal.record_upload_events(events)
        if self.buffered:
            self.journal.record_outcomes(o.journal_row() for o in self.buffered)
            summary = self.summary
            for o in self.buffered:
                summary.parts_sent += o.parts_sent
                summary.parts_reused += o.parts_reused
                if o.status == "done":
                    summary.copied += 1
                    summary.bytes += o.size
                elif o.status == "changed":
                    summary.changed.append((o.key, o.error or ""))
                else:
                    summary.failed.append((o.key, o.error or ""))
                    if o.refused:
                        summary.refused.append((o.key, o.error or ""))
            self.buffered.clear()
        self._record_health()
        self.last_flush = time.monotonic()

    def _record_health(self, final: bool = False) -> None:
        """Fold this flush's outcomes into the per-worker table; journal it about once a second."""
        now = time.monotonic()
        due = final or now - self.last_health >= HEALTH_EVERY_S
        if not self.seen and not due:
            return
        alive = self.executor.workers() if due else None
        self.health = tally(self.health, self.seen, alive, now_iso())
        self.seen.clear()
        if alive is not None:
            self.last_health = now
        self.journal.record_workers(self.pass_id, self.health.values())
        show = getattr(self.progress, "workers", None)
        if show is not None:
            show(list(self.health.values()))


def _settle(journal: Journal, summary: RunSummary) -> None:
    """What is left to do after this run, from the journal (not only from this run)."""
    counts = journal.counts()
    summary.remaining = counts.get("pending", {"objects": 0})["objects"]
    this_run = {key for key, _ in summary.changed}
    earlier = counts.get("changed", {"objects": 0})["objects"] - len(this_run)
    if earlier > 0:
        summary.changed_earlier = earlier
        for row in journal.iter_objects("status = 'changed'"):
            if row.key not in this_run:
                summary.changed_earlier_keys.append((row.key, row.error or "changed"))
                if len(summary.changed_earlier_keys) == 20:
                    break
