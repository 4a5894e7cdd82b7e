"""The copy of one object as a task: plain, picklable inputs and a plain result.

A :class:`CopyTask` carries everything one object's copy needs -- how to open
both stores (:class:`StoreSpec`: URLs, storage settings, rehearsed faults and
this process's share of the caps), the key, its size and source version, the
destination storage class, the part size, the journaled resumable upload and
the retry policy.  :func:`run_copy_task` runs it against a :class:`CopyContext`
(the stores opened in this process, the memory gate for large objects, where
upload events go) and returns a :class:`CopyOutcome`: ``done`` with its proof,
``changed`` (the source moved on), or ``failed`` with the reason.  It never
touches the journal, so a thread of this process or a Dask worker on another
host runs the very same code; the coordinator records the outcomes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from passerelle.errors import (
    ObjectNotFoundError,
    PasserelleError,
    PreconditionFailedError,
    TransientError,
)
from passerelle.migration.copy import SMALL_OBJECT_LIMIT, CopyResult, stream_copy
from passerelle.migration.journal import now_iso
from passerelle.migration.limits import LimitedStore, TokenBucket
from passerelle.migration.parts import ResumeSlot, resumable_copy
from passerelle.migration.upload_log import PartRecord, UploadEvent, UploadState
from passerelle.sovereignty.ciphertext_guard import (
    CiphertextOnly,
    PlaintextRefusedError,
    guard_source,
)
from passerelle.storage import FaultInjectingStore, FaultPlan, Store, open_store
from passerelle.storage.config import StorageConfig
from passerelle.storage.retry import RetryPolicy, call_with_retries
from passerelle.storage.urls import parse_store_url

__all__ = [
    "CopyContext",
    "CopyOutcome",
    "CopyTask",
    "StoreSpec",
    "event_from_plain",
    "event_to_plain",
    "portable_config",
    "run_copy_task",
    "wrap_stores",
]


def wrap_stores(
    src: Store,
    dst: Store,
    *,
    faults: FaultPlan | None = None,
    max_bandwidth: float | None = None,
    max_requests_per_second: float | None = None,
) -> tuple[Store, Store]:
    """The stores as a run uses them: rehearsed faults, then the caps of this process."""
    if faults is not None:
        src = FaultInjectingStore(src, faults)
        dst = FaultInjectingStore(dst, replace(faults, seed=faults.seed + 1))
    if max_bandwidth:
        src = LimitedStore(src, bandwidth=TokenBucket(max_bandwidth, max_bandwidth))
    if max_requests_per_second:
        dst = LimitedStore(dst, requests=TokenBucket(max_requests_per_second))
    return src, dst


def portable_config(urls: Iterable[str], config: StorageConfig | None) -> StorageConfig | None:
    """Only the remotes ``urls`` use, resolved here: what a worker elsewhere needs, no more.

    The coordinator's environment is not shipped; ``None`` when no URL needs a remote.
    """
    from passerelle.storage.config import load_config

    remotes = {}
    defaults: dict[str, str] = {}
    for url in urls:
        parsed = parse_store_url(url)
        if parsed.scheme not in ("s3", "az", "swift"):
            continue
        config = config if config is not None else load_config()
        remote = config.remote_for(parsed.scheme, parsed.remote)
        name = parsed.remote or f"default {parsed.scheme}"  # no remote is named with a space
        remotes[name] = remote
        if not parsed.remote:
            defaults[parsed.scheme] = name
    if not remotes:
        return None
    return StorageConfig(remotes=remotes, defaults=defaults)


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """How to open a run's two stores in any process (picklable; prints no credential)."""

    source_url: str
    dest_url: str
    config: StorageConfig | None = field(default=None, repr=False)
    faults: FaultPlan | None = None
    max_bandwidth: float | None = None
    max_requests_per_second: float | None = None
    large_slots: int = 1
    run_token: str = ""
    ciphertext_only: CiphertextOnly | None = None
    """Keys the destination may hold only as envelopes: checked on the source's stream."""

    def share(self, processes: int) -> StoreSpec:
        """This spec for one of ``processes`` processes: each takes 1/N of the caps."""
        if processes <= 1:
            return self
        return replace(
            self,
            max_bandwidth=self.max_bandwidth / processes if self.max_bandwidth else None,
            max_requests_per_second=(
                self.max_requests_per_second / processes if self.max_requests_per_second else None
            ),
        )

    def open(self) -> tuple[Store, Store]:
        src: Store = open_store(self.source_url, config=self.config)
        dst: Store = open_store(self.dest_url, config=self.config)
        src, dst = wrap_stores(
            src,
            dst,
            faults=self.faults,
            max_bandwidth=self.max_bandwidth,
            max_requests_per_second=self.max_requests_per_second,
        )
        return guard_source(src, self.ciphertext_only), dst


@dataclass(frozen=True, slots=True)
class CopyTask:
    """One object to copy, with everything the copy needs and nothing of the journal."""

    key: str
    size: int
    source_etag: str | None
    dest_class: str | None
    part_size: int
    stores: StoreSpec
    resumable: bool = False
    upload: UploadState | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    md5: bool = True
    """Compute and store the MD5 beside the SHA-256 (the plan's ``--md5/--no-md5``)."""


@dataclass(frozen=True, slots=True)
class CopyOutcome:
    """How one copy ended: ``done`` (with its proof), ``changed``, ``failed`` or ``lost``.

    ``lost`` is never a copy's own verdict: the executor lost the task (its
    worker died) and the coordinator puts the key back in the queue.  ``refused``
    names the ciphertext-only rule a plaintext source object broke (it is
    ``failed`` and nothing was written).
    """

    key: str
    size: int
    status: str
    error: str | None = None
    sha256: str | None = None
    md5: str | None = None
    dest_etag: str | None = None
    parts: int | None = None
    copied_at: str | None = None
    retries: int = 0
    parts_sent: int = 0
    parts_reused: int = 0
    refused: str | None = None
    worker: str = "local"
    """Who ran the task: a Dask worker's address, ``local`` for this process's threads."""

    def journal_row(self) -> dict[str, Any]:
        """The row :meth:`Journal.record_outcomes` takes."""
        return {
            "key": self.key,
            "status": self.status,
            "error": self.error,
            "sha256": self.sha256,
            "md5": self.md5,
            "dest_etag": self.dest_etag,
            "parts": self.parts,
            "copied_at": self.copied_at,
            "retries": self.retries,
        }


@dataclass(slots=True)
class CopyContext:
    """What the process running tasks holds: its opened stores and shared gates."""

    source: Store
    dest: Store
    large_slots: threading.BoundedSemaphore
    report: Callable[[UploadEvent], None]

    @classmethod
    def build(
        cls, source: Store, dest: Store, large_slots: int, report: Callable[[UploadEvent], None]
    ) -> CopyContext:
        return cls(source, dest, threading.BoundedSemaphore(max(1, large_slots)), report)


def run_copy_task(task: CopyTask, context: CopyContext) -> CopyOutcome:
    """Copy one object with retries; never raises for what the copy met (a bug included).

    Large objects pass the memory gate (about three parts each in memory); a
    resumable copy that does not end ``done`` aborts its upload so that no
    incomplete upload is left behind.
    """
    if task.size > SMALL_OBJECT_LIMIT:
        with context.large_slots:
            slot = ResumeSlot(task.upload, context.report) if task.resumable else None
            return _copy(task, context, slot)
    return _copy(task, context, None)


def _copy(task: CopyTask, context: CopyContext, slot: ResumeSlot | None) -> CopyOutcome:
    src, dst = context.source, context.dest
    retries = 0

    def on_retry(attempt: int, exc: TransientError, delay: float) -> None:
        nonlocal retries
        retries += 1

    def attempt() -> CopyResult:
        if slot is not None:
            return resumable_copy(
                src,
                task.key,
                dst,
                slot,
                part_size=task.part_size,
                if_match=task.source_etag,
                storage_class=task.dest_class,
                md5=task.md5,
            )
        return stream_copy(
            src,
            task.key,
            dst,
            part_size=task.part_size,
            if_match=task.source_etag,
            storage_class=task.dest_class,
            md5=task.md5,
        )

    verdict: dict[str, Any]
    try:
        result = call_with_retries(attempt, task.retry, on_retry=on_retry)
    except PreconditionFailedError:
        verdict = {"status": "changed", "error": "the source changed during the copy"}
    except ObjectNotFoundError:
        verdict = {"status": "changed", "error": "the source was deleted before the copy"}
    except PlaintextRefusedError as exc:  # nothing was written to the destination
        verdict = {"status": "failed", "error": str(exc), "refused": exc.rule}
    except PasserelleError as exc:
        verdict = {"status": "failed", "error": str(exc)}
    except Exception as exc:  # a bug or an SDK surprise must not stop the run
        verdict = {"status": "failed", "error": f"unexpected {type(exc).__name__}: {exc}"}
    else:
        verdict = {
            "status": "done",
            "sha256": result.sha256,
            "md5": result.md5,
            "dest_etag": result.destination_etag,
            "parts": result.parts,
            "copied_at": now_iso(),
        }
    sent = reused = 0
    if slot is not None:
        if verdict["status"] != "done":
            slot.abandon(dst)  # no incomplete upload left behind
        sent, reused = slot.sent, slot.reused
    return CopyOutcome(
        task.key, task.size, retries=retries, parts_sent=sent, parts_reused=reused, **verdict
    )


def event_to_plain(event: UploadEvent) -> dict[str, Any]:
    """An upload event as plain values (for a message bus that takes no dataclass)."""
    plain: dict[str, Any] = {
        "kind": event.kind,
        "key": event.key,
        "completed": event.completed,
        "at": event.at,
    }
    if event.state is not None:
        s = event.state
        plain["state"] = [
            s.key,
            s.upload_id,
            s.part_size,
            s.source_etag,
            [[p.number, p.size, p.etag, p.sha256] for p in s.parts.values()],
        ]
    if event.part is not None:
        p = event.part
        plain["part"] = [p.number, p.size, p.etag, p.sha256]
    return plain


def event_from_plain(plain: dict[str, Any]) -> UploadEvent:
    state = None
    if plain.get("state") is not None:
        key, upload_id, part_size, source_etag, parts = plain["state"]
        state = UploadState(key, upload_id, int(part_size), source_etag)
        for number, size, etag, sha in parts:
            state.parts[int(number)] = PartRecord(int(number), int(size), etag, sha)
    part = PartRecord(*plain["part"]) if plain.get("part") is not None else None
    return UploadEvent(
        plain["kind"],
        plain["key"],
        state=state,
        part=part,
        completed=bool(plain["completed"]),
        at=plain["at"],
    )
