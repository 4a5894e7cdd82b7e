"""What auditors get: a per-object manifest (JSON or CSV) and a summary.

The manifest streams from the journal, so a report of millions of objects
needs no more memory than one of ten.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from passerelle.errors import UsageError
from passerelle.migration.journal import Journal
from passerelle.migration.runner import JournalLock
from passerelle.migration.worker_health import WorkerHealth, throughput
from passerelle.providers import load_profiles

__all__ = ["MANIFEST_FIELDS", "MigrationStatus", "migration_status", "summarize", "write_report"]

MANIFEST_FIELDS = (
    "key",
    "size",
    "sha256",
    "md5",
    "source_etag",
    "dest_etag",
    "status",
    "attempts",
    "retries",
    "parts",
    "copied_at",
    "verified_at",
    "verify_result",
    "error",
)


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """A snapshot of a migration, readable while ``run`` is writing."""

    journal: str
    source_url: str
    dest_url: str
    running: bool
    counts: dict[str, dict[str, int]]
    passes: list[dict[str, Any]]
    workers: list[WorkerHealth] = field(default_factory=list)
    """Who copied what in the last run (the coordinator's table; empty before any run)."""
    rate: float | None = None
    """Bytes per second of the last run, over all its workers."""
    eta: float | None = None
    """Seconds left at that rate (0 when nothing is left; None when unknown)."""

    def objects(self, status: str) -> int:
        return self.counts.get(status, {}).get("objects", 0)

    def bytes(self, status: str) -> int:
        return self.counts.get(status, {}).get("bytes", 0)

    @property
    def to_copy(self) -> tuple[int, int]:
        keys = ("pending", "copying", "done", "failed", "changed")
        return (sum(self.objects(k) for k in keys), sum(self.bytes(k) for k in keys))

    @property
    def complete(self) -> bool:
        return self.to_copy[0] == self.objects("done") and not self.objects("blocked")


def migration_status(journal_path: str | Path) -> MigrationStatus:
    journal = Journal.open(journal_path)
    try:
        counts, passes = journal.counts(), journal.passes()
        runs = [p for p in passes if p["command"] in ("run", "sync")]
        workers = journal.workers(runs[-1]["id"]) if runs else []
        rate = eta = None
        if runs and workers:
            last = runs[-1]
            end = last["finished_at"]
            now = datetime.fromisoformat(end.replace("Z", "+00:00")) if end else datetime.now(UTC)
            left = sum(counts.get(k, {}).get("bytes", 0) for k in ("pending", "copying"))
            rate, eta = throughput(sum(w.bytes for w in workers), last["started_at"], now, left)
        return MigrationStatus(
            journal=str(journal.path),
            source_url=journal.source_url,
            dest_url=journal.dest_url,
            running=JournalLock.held(journal_path),
            counts=counts,
            passes=passes,
            workers=workers,
            rate=rate,
            eta=eta,
        )
    finally:
        journal.close()


def _jurisdiction(name: str | None) -> dict[str, Any] | None:
    if not name:
        return None
    profile = load_profiles().get(name)
    if profile is None:
        return {"provider": name}
    return {
        "provider": profile.name,
        "display_name": profile.display_name,
        "legal_home": profile.legal_home,
        "non_eu_law_exposure": list(profile.non_eu_law_exposure),
        "certifications": list(profile.certifications),
        "secnumcloud": profile.secnumcloud,
    }


def summarize(journal: Journal) -> dict[str, Any]:
    """Counts, bytes, duration, throughput, retries, cost and jurisdictions."""
    counts = journal.counts()
    passes = journal.passes()
    runs = [p for p in passes if p["command"] in ("run", "sync") and p["stats"]]
    seconds = sum(float(p["stats"].get("seconds", 0)) for p in runs)
    copied_bytes = sum(int(p["stats"].get("bytes", 0)) for p in runs)
    copied = sum(int(p["stats"].get("copied", 0)) for p in runs)
    verifies = [p for p in passes if p["command"].startswith("verify")]
    last_verify = verifies[-1] if verifies else None
    estimate = json.loads(journal.meta.get("plan_estimate", "{}"))
    return {
        "migration_id": journal.migration_id,
        "source": journal.source_url,
        "destination": journal.dest_url,
        "created_at": journal.meta.get("created_at"),
        "objects": {k: v["objects"] for k, v in counts.items() if not k.startswith("action:")},
        "bytes": {k: v["bytes"] for k, v in counts.items() if not k.startswith("action:")},
        "plan": {
            k.removeprefix("action:"): v for k, v in counts.items() if k.startswith("action:")
        },
        "copied_objects": copied,
        "copied_bytes": copied_bytes,
        "copy_seconds": round(seconds, 3),
        "throughput_bytes_per_s": round(copied_bytes / seconds, 1) if seconds else None,
        "throughput_objects_per_s": round(copied / seconds, 1) if seconds else None,
        "retries": journal.total_retries(),
        "estimated_cost": estimate.get("costs_by_currency"),
        "source_jurisdiction": _jurisdiction(journal.meta.get("source_provider")),
        "destination_jurisdiction": _jurisdiction(journal.meta.get("dest_provider")),
        "destination_region": journal.meta.get("dest_region") or None,
        "last_verification": last_verify,
        "passes": passes,
    }


def _manifest_rows(journal: Journal) -> Iterator[dict[str, Any]]:
    for row in journal.iter_objects(
        "status IN ('done', 'failed', 'changed', 'blocked', 'pending', 'copying')"
    ):
        data = row.as_dict()
        yield {name: data.get(name) for name in MANIFEST_FIELDS}


def write_report(journal_path: str | Path, fmt: str, out: IO[str]) -> dict[str, Any]:
    """Write the report in ``fmt`` (``json``, ``csv`` or ``text``); return the summary."""
    if fmt not in ("json", "csv", "text"):
        raise UsageError(f"Unknown report format {fmt!r}; use json, csv or text.")
    journal = Journal.open(journal_path)
    try:
        summary = summarize(journal)
        if fmt == "json":
            out.write('{"summary": ')
            json.dump(summary, out, indent=2, sort_keys=True, default=str)
            out.write(',\n "manifest": [\n')
            for n, row in enumerate(_manifest_rows(journal)):
                out.write(("," if n else "") + json.dumps(row, sort_keys=True) + "\n")
            out.write("]}\n")
        elif fmt == "csv":
            writer = csv.DictWriter(out, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
            writer.writeheader()
            for row in _manifest_rows(journal):
                writer.writerow(row)
        else:
            out.write(render_text(summary))
        return summary
    finally:
        journal.close()


def render_text(summary: dict[str, Any]) -> str:
    lines = [
        f"migration {summary['migration_id']}",
        f"  from {summary['source']}",
        f"  to   {summary['destination']}",
        f"  objects by status: {json.dumps(summary['objects'], sort_keys=True)}",
        f"  copied {summary['copied_objects']} objects, {summary['copied_bytes']} bytes "
        f"in {summary['copy_seconds']} s ({summary['throughput_objects_per_s']} objects/s)",
        f"  retries: {summary['retries']}",
        f"  estimated cost: {summary['estimated_cost']}",
    ]
    for side in ("source", "destination"):
        j = summary[f"{side}_jurisdiction"]
        if j:
            exposure = ", ".join(j.get("non_eu_law_exposure", [])) or "none published"
            lines.append(
                f"  {side}: {j.get('display_name', j['provider'])}, legal home "
                f"{j.get('legal_home', '?')}, non-EU law exposure: {exposure}"
            )
    verify = summary["last_verification"]
    if verify:
        lines.append(
            f"  last verification: {verify['command']} {verify['outcome']} "
            f"at {verify['finished_at']} {json.dumps(verify['stats'], sort_keys=True)}"
        )
    else:
        lines.append("  last verification: none yet (run `passerelle migrate verify`)")
    return "\n".join(lines) + "\n"
