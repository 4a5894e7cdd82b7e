"""A replica's incremental passes and its proof (see :mod:`.replica`).

A pass is a migration plan from the hub's store to the replica in the replica's own
journal, copying what differs and deleting what only the replica holds; the proof is the
migrations' verify on that journal, with objects written since the pass hashed on both
sides.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passerelle.errors import ConflictError, PasserelleError

if TYPE_CHECKING:
    import threading

    from passerelle.hub.hub import Hub
    from passerelle.live.replica import ReplicaTarget
    from passerelle.migration.pacing import Pacer
    from passerelle.storage import Store

__all__ = ["incremental_pass", "prove", "record"]

_EXAMPLES = 20


def _journal_path(hub: Hub, target: ReplicaTarget, primary: str) -> Path:
    """The replica's journal for this primary and its URL (a finished move starts a new
    one; a replica removed and added again elsewhere under the same name too)."""
    digest = hashlib.sha256(f"{primary}\n{target.url}".encode()).hexdigest()[:12]
    return (hub.config.directory / "replicas" / f"{target.name}-{digest}.journal").resolve()


def incremental_pass(
    hub: Hub,
    target: ReplicaTarget,
    *,
    stop: threading.Event | None = None,
    pacer: Pacer | None = None,
) -> dict[str, Any]:
    """List the hub's store and the replica, copy what differs, delete what only the
    replica holds and the hub's store still lacks now; return the pass's details."""
    from passerelle.live.mover import ciphertext_rules
    from passerelle.migration import PlanOptions, RunOptions
    from passerelle.migration.decide import Action as MigrationAction
    from passerelle.migration.one_step import copy_store

    started = time.perf_counter()
    from passerelle.live.replica import primary_url

    primary = primary_url(hub)
    journal = _journal_path(hub, target, primary)
    journal.parent.mkdir(parents=True, exist_ok=True)
    options = RunOptions(ciphertext_only=ciphertext_rules(hub, target.url), pacer=pacer)
    summary = copy_store(primary, target.url, journal, PlanOptions(md5=False), options, stop=stop)
    listed = listed_bytes = 0
    if summary.plan is not None:
        on_hub = [c for a, c in summary.plan.counts.items() if a != MigrationAction.DEST_ONLY]
        listed, listed_bytes = sum(n for n, _ in on_hub), sum(b for _, b in on_hub)
    deleted, kept, delete_failures = _delete_extras(hub, journal, primary, target.url, listed)
    run = summary.run
    details: dict[str, Any] = {
        "primary": primary,
        "listed": listed,
        "listed_bytes": listed_bytes,
        "copied": run.copied,
        "bytes": run.bytes,
        "deleted": deleted,
        "kept_extra": kept,
        "failed": len(run.failed) + len(run.changed) + len(delete_failures),
        "failures": [f"{k}: {w}" for k, w in (run.failed + run.changed + delete_failures)][
            :_EXAMPLES
        ],
        "complete": summary.plan is not None and run.complete and not delete_failures,
        "seconds": round(time.perf_counter() - started, 3),
        "copy_seconds": round(run.seconds, 3),
        "rate_bytes_per_s": _copy_rate(hub, target, run.bytes, run.seconds),
    }
    record(hub, target, "pass", details)
    return details


_RATE_SAMPLE = 1 << 20  # a pass that copied less says little about the copy rate


def _copy_rate(hub: Hub, target: ReplicaTarget, copied: int, seconds: float) -> float | None:
    """Bytes per second of this pass's copy, or the last one measured on a pass that
    copied enough to tell (None before any did)."""
    from passerelle.hub.tables import Replica

    if copied >= _RATE_SAMPLE and seconds > 0:
        return round(copied / seconds, 1)
    with hub.db.read() as session:
        row = session.get(Replica, target.id)
        earlier = (row.last_pass or {}).get("rate_bytes_per_s") if row is not None else None
    return float(earlier) if isinstance(earlier, int | float) else None


def _delete_extras(
    hub: Hub, journal_path: Path, primary: str, replica_url: str, listed: int
) -> tuple[int, int, list[tuple[str, str]]]:
    """Delete from the replica what the hub's store does not hold (checked again now: a
    write the outbox copied after the listing is kept). Nothing is deleted when the hub's
    store listed empty while the replica did not: that is a wrong URL, not an erasure."""
    from passerelle.errors import ObjectNotFoundError
    from passerelle.migration.journal import Journal

    journal = Journal.open(journal_path)
    try:
        extras = [row.key for row in journal.iter_objects("status = 'extra'")]
        if not extras or listed == 0:
            return 0, len(extras), []
        src, dst = hub.open_url(primary), hub.open_url(replica_url)
        deleted: list[str] = []
        failures: list[tuple[str, str]] = []
        kept = 0
        for key in extras:
            try:
                src.head(key)
                kept += 1  # written since the listing: the outbox has copied it, or will
                continue
            except ObjectNotFoundError:
                pass
            try:
                with contextlib.suppress(ObjectNotFoundError):
                    dst.delete(key)
            except PasserelleError as exc:
                failures.append((key, str(exc)))
                continue
            deleted.append(key)
        journal.set_status(deleted, "deleted")
        return len(deleted), kept, failures
    finally:
        journal.close()


def record(hub: Hub, target: ReplicaTarget, what: str, details: dict[str, Any]) -> None:
    from passerelle.hub.tables import Replica

    with hub.db.transaction() as session:
        row = session.get(Replica, target.id)
        if row is None:  # removed meanwhile
            return
        if what == "pass":
            row.last_pass_at, row.last_pass = hub.now(), details
        else:
            row.last_verify_at, row.last_verify = hub.now(), details


def prove(hub: Hub, target: ReplicaTarget, *, deep: bool) -> dict[str, Any]:
    """The proof behind :func:`verify_replica` (no authorization: callers check it)."""
    from passerelle.live.mover import RESEARCH_FIRST
    from passerelle.live.research_latency import research_pacer
    from passerelle.migration import verify_migration

    started = time.perf_counter()
    from passerelle.live.replica import primary_url

    primary = primary_url(hub)
    journal = _journal_path(hub, target, primary)
    if not journal.exists():
        raise ConflictError(
            f"the replica {target.name!r} has had no pass from {primary} yet; run "
            f"`passerelle hub replica sync {target.name}` first"
        )
    src, dst = hub.open_url(primary), hub.open_url(target.url)
    report = verify_migration(
        journal, deep=deep, source=src, dest=dst, pacer=research_pacer(hub, RESEARCH_FIRST)
    )
    problems: list[str] = []
    rechecked = 0
    for kind, key in report.problems():
        rechecked += 1
        if not _same_now(src, dst, key):
            problems.append(f"{kind}: {key}")
    return {
        "primary": primary,
        "deep": deep,
        "checked": report.checked,
        "verified": report.verified,
        "proven_since_pass": rechecked - len(problems),
        "problems": len(problems),
        "examples": problems[:_EXAMPLES],
        "ok": not problems,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _same_now(src: Store, dst: Store, key: str) -> bool:
    """Whether both stores hold the same bytes for ``key`` now (or neither holds it)."""
    from passerelle.errors import ObjectNotFoundError
    from passerelle.migration import hash_object

    def digest(store: Store) -> tuple[int, str] | None:
        try:
            return hash_object(store, key)
        except ObjectNotFoundError:
            return None

    try:
        return digest(src) == digest(dst)
    except PasserelleError:
        return False
