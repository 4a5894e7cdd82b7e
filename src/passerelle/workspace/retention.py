"""The hub's retention of query results: purge what has expired, sweep what has no record.

A query's result may be read for ``result_retention_days`` (``hub.toml``) after the
query ran (``queries.kept_until``); from the day after, the rules refuse it even
before a purge. ``purge_results`` (``passerelle queries purge``, admins) then
deletes each expired result file from the data store and marks its record
purged: the record itself stays (who ran what, when, the statement's digest
and the result's SHA-256), and each purge is an audit event. It also deletes
result files that no record points to (left by a crash between storing a result
and recording it) once they are older than ``orphan_grace``, so a query still
being recorded is never touched.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from passerelle.errors import NotFoundError
from passerelle.hub.audit import append_event, authorize
from passerelle.hub.rules import Action, Principal
from passerelle.hub.tables import Project, QueryRecord, utcnow
from passerelle.workspace.queries import kept_until, workspace_prefix

if TYPE_CHECKING:
    from passerelle.hub.hub import Hub

__all__ = ["PurgeReport", "purge_results"]

_RESULT_KEY = re.compile(r"^workspaces/project-\d+/queries/[^/]+\.parquet$")


@dataclass(frozen=True)
class PurgeReport:
    retention_days: int
    purged: list[int]
    orphans_deleted: list[str]


def purge_results(
    hub: Hub, actor: Principal, *, orphan_grace: timedelta = timedelta(hours=1)
) -> PurgeReport:
    """Delete expired results (records kept, marked purged, audited) and orphaned files."""
    from sqlalchemy import select

    days = hub.config.result_retention_days
    with hub.transaction() as session:
        authorize(hub, session, actor, Action.RESULTS_PURGE, "results", {"retention_days": days})
    today = hub.now().date()
    with hub.db.read() as session:
        live = list(
            session.execute(
                select(QueryRecord.id, QueryRecord.created_at, QueryRecord.result_key).where(
                    QueryRecord.purged_at.is_(None)
                )
            )
        )
    store = hub.store()
    purged = []
    for query_id, created, key in live:
        if today <= kept_until(created.date(), days):
            continue
        with suppress(NotFoundError):
            store.delete(key)
        with hub.transaction() as session:
            q = session.get_one(QueryRecord, query_id)
            q.purged_at = hub.now()
            append_event(
                hub,
                session,
                actor=actor.name,
                action="query.result-purge",
                target=f"project:{q.project_id}",
                decision="allowed",
                details={
                    "project": q.project_id,
                    "query": q.id,
                    "user_id": q.user_id,
                    "ran_at": q.created_at.isoformat(),
                    "statement_sha256": q.digest,
                    "result_sha256": q.result_sha256,
                    "kept_until": kept_until(q.created_at.date(), days).isoformat(),
                    "retention_days": days,
                },
            )
        purged.append(query_id)
    orphans = _sweep_orphans(hub, actor, orphan_grace)
    return PurgeReport(days, purged, orphans)


def _sweep_orphans(hub: Hub, actor: Principal, grace: timedelta) -> list[str]:
    """Delete result files no unpurged record points to, older than ``grace`` (audited)."""
    from sqlalchemy import select

    store = hub.store()
    with hub.db.read() as session:
        kept = set(
            session.execute(
                select(QueryRecord.result_key).where(QueryRecord.purged_at.is_(None))
            ).scalars()
        )
        projects = list(session.execute(select(Project.id)).scalars())
    cutoff = utcnow() - grace
    deleted = []
    listed = (i for p in projects for i in store.list(f"{workspace_prefix(p)}/queries/"))
    for info in listed:
        if not _RESULT_KEY.match(info.key) or info.key in kept:
            continue
        if info.last_modified is not None and info.last_modified > cutoff:
            continue
        with suppress(NotFoundError):
            store.delete(info.key)
        deleted.append(info.key)
    if deleted:
        with hub.transaction() as session:
            append_event(
                hub,
                session,
                actor=actor.name,
                action="query.result-orphans",
                target="results",
                decision="allowed",
                details={"deleted": len(deleted), "keys": deleted[:100]},
            )
    return deleted
