"""The demo: build a synthetic hub, keep researchers busy, move it live to another cloud.

``run_live_demo`` does, with the real library and nothing mocked: synthesize a
population and its extracts; create a hub (SQLite, keys, users); ingest the
three sources (pseudonymized, quarantined, catalogued); a researcher submits a
project that a steward approves and grants; researchers' queries then run
continuously in the background while the operator moves the hub's data store
to the second cloud (mirroring, backlog copy, cutover with deep verify, finish),
a steward ingests a new extract and a researcher releases a checked table in
the middle of it. It returns the story: what moved, how fast, the proof, and
what researchers saw.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passerelle.live.mover import RESEARCH_FIRST

if TYPE_CHECKING:
    from passerelle.hub import Hub, Principal
    from passerelle.migration.pacing import LatencyTarget

__all__ = ["DemoStory", "ResearcherLog", "run_live_demo"]

QUERIES = {
    "stays by département": (
        "SELECT postcode AS departement, count(*) AS n_stays, "
        "count(DISTINCT person_id) AS n_persons FROM pmsi_stays GROUP BY 1 ORDER BY 1"
    ),
    "persons in stays and claims": (
        "SELECT count(DISTINCT person_id) AS n_persons FROM pmsi_stays "
        "JOIN dcir_claims USING (person_id)"
    ),
    "claims amount by act": (
        "SELECT act_code, round(sum(amount_eur), 2) AS total_eur, count(*) AS n_claims "
        "FROM dcir_claims GROUP BY 1 ORDER BY 1"
    ),
    "FHIR patients with a stay": (
        "SELECT count(DISTINCT p.person_id) AS n FROM fhir_patient p "
        "JOIN pmsi_stays s ON s.person_id = p.person_id"
    ),
}


@dataclass
class ResearcherLog:
    """What the researchers saw, kept by the background query loop."""

    baseline: dict[str, Any] = field(default_factory=dict)
    idle_latencies: list[float] = field(default_factory=list)
    move_latencies: list[float] = field(default_factory=list)
    queries: int = 0
    failures: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    phase: str = "idle"
    by_phase: dict[str, list[float]] = field(default_factory=dict)
    """Latencies by the step of the story the query started in."""

    @staticmethod
    def _p(values: list[float], q: float) -> float:
        if not values:
            return 0.0
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, float]:
        return {
            "idle_median_ms": 1000 * (statistics.median(self.idle_latencies or [0.0])),
            "idle_p99_ms": 1000 * self._p(self.idle_latencies, 0.99),
            "move_median_ms": 1000 * (statistics.median(self.move_latencies or [0.0])),
            "move_p99_ms": 1000 * self._p(self.move_latencies, 0.99),
        }


@dataclass
class DemoStory:
    workdir: str
    source_url: str
    destination_url: str
    persons: int
    rows_in: int
    rows_accepted: int
    rows_quarantined: int
    datasets: list[str]
    objects_moved: int
    bytes_moved: int
    move_seconds: float
    verified_deep: int
    mirrored_writes_proven: int
    audit_events: int
    audit_ok: bool
    writes_during_move: list[str]
    release_status: str
    researchers: ResearcherLog
    phases: list[tuple[str, float]]

    @property
    def ok(self) -> bool:
        r = self.researchers
        return self.audit_ok and not r.failures and not r.different and r.queries > 0


Step = Callable[[str], None]


def _researchers(
    hub: Hub,
    rita: Principal,
    project: int,
    log: ResearcherLog,
    moving: threading.Event,
    stop: threading.Event,
) -> None:
    from passerelle.workspace import run_query

    names = list(QUERIES)
    i = 0
    while not stop.is_set():
        name = names[i % len(names)]
        i += 1
        started = time.perf_counter()
        phase = log.phase
        try:
            _, table = run_query(hub, rita, project, QUERIES[name])
        except Exception as exc:
            log.failures.append(f"{name}: {exc}")
            continue
        elapsed = time.perf_counter() - started
        log.queries += 1
        (log.move_latencies if moving.is_set() else log.idle_latencies).append(elapsed)
        log.by_phase.setdefault(phase, []).append(elapsed)
        if table.to_pydict() != log.baseline[name]:
            log.different.append(name)
        stop.wait(0.05)


def run_live_demo(
    workdir: Path,
    *,
    source_url: str | None = None,
    destination_url: str | None = None,
    persons: int = 2000,
    seed: int = 2026,
    archive_objects: int = 200,
    archive_object_size: int = 64 * 1024,
    on_step: Step | None = None,
    on_copy: Callable[[int, int], None] | None = None,
    idle_seconds: float = 1.5,
    latency_target: LatencyTarget | None = RESEARCH_FIRST,
) -> DemoStory:
    """Run the whole story under ``workdir``; see the module docstring."""
    from passerelle.demo.build import build_demo_hub
    from passerelle.hub.audit import verify_audit
    from passerelle.hub.ingestion import ingest_dataset
    from passerelle.live import cutover, finish, move_status, run_backlog, start_move
    from passerelle.workspace import request_release, run_query

    say = on_step or (lambda _: None)
    source = source_url or f"file://{(workdir / 'cloud-a').resolve()}"
    dest = destination_url or f"file://{(workdir / 'cloud-b').resolve()}"
    phases: list[tuple[str, float]] = []
    clock = time.perf_counter()

    def mark(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases.append((name, now - clock))
        clock = now
        say(name)

    built = build_demo_hub(
        workdir,
        source_url=source,
        persons=persons,
        seed=seed,
        archive_objects=archive_objects,
        archive_object_size=archive_object_size,
        mark=mark,
    )
    hub, who, project, later, rows = built.hub, built.who, built.project, built.later, built.rows
    log = ResearcherLog()
    for name, sql in QUERIES.items():
        log.baseline[name] = run_query(hub, who["rita"], project, sql)[1].to_pydict()
    stop, moving = threading.Event(), threading.Event()
    worker = threading.Thread(
        target=_researchers, args=(hub, who["rita"], project, log, moving, stop), daemon=True
    )
    worker.start()
    stop.wait(idle_seconds)  # an idle baseline of latencies
    mark("researchers are querying in the background")

    moving.set()
    move_started = time.perf_counter()
    log.phase = "mirroring, an ingest and a release"
    start_move(hub, who["omar"], dest)
    mark("the hub is mirroring every write to the second cloud")
    writes = []
    update = ingest_dataset(
        hub,
        who["marc"],
        dataset="pmsi_stays_update",
        organization="750712184",
        schema="pmsi_stays",
        source_url=f"file://{(later / 'stays.csv').resolve()}",
    )
    writes.append(f"ingest of {update.rows_accepted:,} new stays ({update.datasets[0][0]})")
    view, _ = run_query(hub, who["rita"], project, QUERIES["stays by département"])
    release = request_release(hub, who["rita"], view.id)
    writes.append(f"release request {release.id} ({release.status})")
    log.phase = "backlog copy"
    copied = run_backlog(hub, who["omar"], latency_target=latency_target)
    if on_copy:
        on_copy(copied.copied, copied.bytes)
    mark("the backlog was copied, every object hashed as it streamed")
    log.phase = "cutover (final sync, deep verify)"
    evidence = cutover(hub, who["omar"], latency_target)
    mark("cutover: final sync, deep verify, reads switched to the second cloud")
    log.phase = "on the second cloud"
    stop.wait(1.0)  # researchers keep working on the new cloud
    finish(hub, who["omar"])
    move_seconds = time.perf_counter() - move_started
    mark("finished: the second cloud is the hub's only store")
    stop.wait(1.0)
    stop.set()
    worker.join(timeout=60)

    status = move_status(hub)
    audit = verify_audit(hub)
    hub.close()
    return DemoStory(
        workdir=str(workdir),
        source_url=source,
        destination_url=status.source_url,
        persons=persons,
        rows_in=rows[0],
        rows_accepted=rows[1],
        rows_quarantined=rows[2],
        datasets=["pmsi_stays", "dcir_claims", "fhir_*", "pmsi_stays_update"],
        objects_moved=status.objects_done,
        bytes_moved=status.bytes_done,
        move_seconds=move_seconds,
        verified_deep=evidence.verified,
        mirrored_writes_proven=evidence.mirrored_writes_proven,
        audit_events=audit.chain.events,
        audit_ok=audit.ok,
        writes_during_move=writes,
        release_status=release.status,
        researchers=log,
        phases=phases,
    )
