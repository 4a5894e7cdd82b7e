"""The stewards' record of ingestions: each run's counts and why its rows were refused.

``ingest_dataset`` records one row per run (``record_ingest_run``, in the same
transaction as its ``ingest.run`` audit event); ``list_ingests`` pages them,
newest first, for stewards, admins and auditors. ``reasons_by_kind`` groups a
run's ``code:column`` reasons by their code, the view a steward triages from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime  # the API's response model reads it at runtime
from typing import TYPE_CHECKING, Any

from passerelle.hub.rules import Action, Principal

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub
    from passerelle.hub.tables import IngestRun
    from passerelle.hub.views import Page

__all__ = [
    "IngestRunView",
    "ReasonKind",
    "list_ingests",
    "reasons_by_kind",
    "record_ingest_run",
]


@dataclass(frozen=True)
class ReasonKind:
    """One kind of refusal (``missing``, ``nir-key``, ``columns``...), how many rows gave it
    and on which columns (``where``: the part after the colon, with its count)."""

    kind: str
    rows: int
    where: list[tuple[str, int]]


@dataclass(frozen=True)
class IngestRunView:
    id: int
    dataset: str
    organization: str
    source: str
    version: str
    rows_in: int
    rows_accepted: int
    rows_quarantined: int
    reasons: list[tuple[str, int]]
    by_kind: list[ReasonKind]
    datasets: list[str]
    reused: bool
    by: str
    at: datetime


def reasons_by_kind(reasons: Iterable[tuple[str, int]]) -> list[ReasonKind]:
    """Group ``code:column`` reasons by code, most frequent first (pure).

    A row refused for several reasons counts once under each, so the kinds' rows
    may add up to more than the rows quarantined.
    """
    grouped: dict[str, dict[str, int]] = {}
    for reason, rows in reasons:
        kind, _, where = reason.partition(":")
        places = grouped.setdefault(kind, {})
        places[where] = places.get(where, 0) + rows
    kinds = [
        ReasonKind(kind, sum(places.values()), sorted(places.items(), key=lambda p: (-p[1], p[0])))
        for kind, places in grouped.items()
    ]
    return sorted(kinds, key=lambda k: (-k.rows, k.kind))


def record_ingest_run(
    hub: Hub,
    session: Session,
    actor: Principal,
    *,
    dataset: str,
    organization: str,
    source: str,
    version: str,
    counts: tuple[int, int, int],
    reasons: Iterable[tuple[str, int]],
    datasets: Iterable[str],
    reused: bool,
) -> None:
    """Add one run to the record; ``counts`` is (rows in, accepted, quarantined)."""
    from passerelle.hub.tables import IngestRun

    rows_in, accepted, quarantined = counts
    session.add(
        IngestRun(
            dataset=dataset,
            organization=organization,
            source=source,
            version=version,
            rows_in=rows_in,
            rows_accepted=accepted,
            rows_quarantined=quarantined,
            reasons=[[r, n] for r, n in reasons],
            datasets=list(datasets),
            reused=reused,
            user_id=actor.user_id,
            created_at=hub.now(),
        )
    )


def list_ingests(
    hub: Hub,
    actor: Principal,
    *,
    dataset: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[IngestRunView]:
    """The ingestion runs, newest first (stewards, admins and auditors); ``dataset``
    keeps the runs of that source name or that registered that catalog entry."""
    from sqlalchemy import func, select

    from passerelle.hub.audit import authorize
    from passerelle.hub.tables import IngestRun, User
    from passerelle.hub.views import Page

    with hub.transaction() as session:
        authorize(hub, session, actor, Action.INGEST_READ, "ingests", {"dataset": dataset})
        where = [_ran_for(dataset)] if dataset is not None else []
        total = session.scalar(select(func.count()).select_from(IngestRun).where(*where)) or 0
        rows = session.execute(
            select(IngestRun, User.name)
            .join(User, User.id == IngestRun.user_id)
            .where(*where)
            .order_by(IngestRun.id.desc())
            .limit(limit)
            .offset(offset)
        )
        items = [_view(run, str(name)) for run, name in rows]
        return Page(items, int(total), limit, offset)


def _ran_for(name: str) -> Any:
    """Runs of source ``name`` or that registered the catalog entry ``name`` (its JSON
    list holds the name as ``json.dumps`` wrote it, on every database)."""
    import json

    from sqlalchemy import Text, cast, or_

    from passerelle.hub.tables import IngestRun
    from passerelle.storage.keys import DATASET

    if not DATASET.pattern.fullmatch(name):
        # No catalog entry has such a name, and the LIKE below would then match across
        # the list's punctuation (", " is in every list of two) or, on SQLite, ignore case.
        return IngestRun.dataset == name
    needle = json.dumps(name).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(
        IngestRun.dataset == name,
        cast(IngestRun.datasets, Text).like(f"%{needle}%", escape="\\"),
    )


def _view(run: IngestRun, by: str) -> IngestRunView:
    reasons = [(str(r), int(n)) for r, n in run.reasons]
    return IngestRunView(
        id=run.id,
        dataset=run.dataset,
        organization=run.organization,
        source=run.source,
        version=run.version,
        rows_in=run.rows_in,
        rows_accepted=run.rows_accepted,
        rows_quarantined=run.rows_quarantined,
        reasons=reasons,
        by_kind=reasons_by_kind(reasons),
        datasets=[str(d) for d in run.datasets],
        reused=run.reused,
        by=by,
        at=run.created_at,
    )
