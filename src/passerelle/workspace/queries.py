"""Researchers' SQL over their project's granted datasets, kept in the project's workspace.

``run_query`` resolves what the caller may read *now* (an active project they
belong to, unexpired grants, granted columns only), runs the SQL in the
research sandbox over the datasets' Parquet read through the hub's data store
(whatever cloud it is on, and during a live move; the project's own extract,
with project-keyed pseudonyms, when a steward made one), stores the result as
Parquet under ``workspaces/project-<id>/queries/`` and audits the query: actor,
project, statement digest, datasets touched, rows, decision. Refusals are
audited too, then raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from passerelle.errors import QueryError, SandboxViolation, not_found
from passerelle.hub.audit import append_event
from passerelle.hub.projects import (
    GrantedDataset,
    granted_datasets,
    readable_project,
)
from passerelle.hub.rules import Principal
from passerelle.hub.tables import QueryRecord, User

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

    from passerelle.hub.hub import Hub
    from passerelle.research.caps import LimitRequest
    from passerelle.storage import Store

__all__ = ["QueryView", "get_query", "list_queries", "read_result", "run_query", "workspace_prefix"]


@dataclass(frozen=True)
class QueryView:
    id: int
    project_id: int
    user: str
    sql: str
    digest: str
    datasets: list[str]
    rows: int
    truncated: bool
    result_key: str
    duration_s: float
    created_at: str


def workspace_prefix(project_id: int) -> str:
    return f"workspaces/project-{project_id}"


def _table_prefix(dataset: GrantedDataset) -> str:
    """The folder holding the dataset's current Parquet files."""
    keys = [f.url for f in dataset.files]
    if not keys:
        return f"datasets/{dataset.name}/none/"
    folders = {k.rsplit("/", 1)[0] for k in keys}
    return folders.pop() + "/" if len(folders) == 1 else _common_folder(keys)


def _source_prefix(store: Store, project_id: int, dataset: GrantedDataset) -> str:
    """The project's own extract of the dataset when there is one, else the dataset."""
    extract = f"{workspace_prefix(project_id)}/extracts/{dataset.name}/"
    if next(iter(store.list(extract, page_size=1)), None) is not None:
        return extract
    return _table_prefix(dataset)


def _common_folder(keys: list[str]) -> str:
    parts = [k.split("/")[:-1] for k in keys]
    common: list[str] = []
    for level in zip(*parts, strict=False):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return "/".join(common) + "/"


def _view(q: QueryRecord, user: str) -> QueryView:
    return QueryView(
        q.id,
        q.project_id,
        user,
        q.sql,
        q.digest,
        list(q.datasets),
        q.rows,
        q.truncated,
        q.result_key,
        q.duration_s,
        q.created_at.isoformat(),
    )


def run_query(
    hub: Hub,
    actor: Principal,
    project_id: int,
    sql: str,
    limits: LimitRequest | None = None,
) -> tuple[QueryView, pa.Table]:
    """Run ``sql`` for ``actor`` in ``project_id``; return the record and the result table."""
    from passerelle.research import TableSource, run_sandboxed, write_result

    resolved = hub.query_limits(limits)  # within the hub's caps, else a UsageError
    with hub.transaction() as session:
        granted = granted_datasets(hub, actor, project_id, session)
    store = hub.store()
    tables = {
        g.name: TableSource(
            store, _source_prefix(store, project_id, g), tuple(g.columns) if g.columns else None
        )
        for g in granted
    }
    try:
        outcome = run_sandboxed(sql, tables, resolved, hub.scan_cache())
    except (SandboxViolation, QueryError) as exc:
        details = exc.details.audit_details() if hasattr(exc.details, "audit_details") else {}
        with hub.transaction() as session:
            append_event(
                hub,
                session,
                actor=actor.name,
                action="query.run",
                target=f"project:{project_id}",
                decision="denied" if isinstance(exc, SandboxViolation) else "error",
                details={"project": project_id, **details, "message": str(exc)},
            )
        raise
    assert outcome.result is not None
    with hub.transaction() as session:
        record = QueryRecord(
            project_id=project_id,
            user_id=actor.user_id,
            sql=sql,
            digest=outcome.digest,
            datasets=list(outcome.tables),
            rows=outcome.rows,
            truncated=outcome.truncated,
            result_key="",
            duration_s=outcome.duration_s,
            created_at=hub.now(),
        )
        session.add(record)
        session.flush()
        record.result_key = f"{workspace_prefix(project_id)}/queries/query-{record.id}.parquet"
        append_event(
            hub,
            session,
            actor=actor.name,
            action="query.run",
            target=f"project:{project_id}",
            decision="allowed",
            details={"project": project_id, "query": record.id, **outcome.audit_details()},
        )
        view = _view(record, actor.name)
    write_result(
        outcome.result, store, f"{workspace_prefix(project_id)}/queries", f"query-{view.id}"
    )
    return view, outcome.result


def _query_for(hub: Hub, actor: Principal, query_id: int, why: str) -> QueryView:
    with hub.transaction() as session:
        q = session.get(QueryRecord, query_id)
        if q is None:
            raise not_found("query", query_id)
        readable_project(
            hub,
            session,
            actor,
            q.project_id,
            {"query": q.id, why: True},
            missing=not_found("query", query_id),
        )
        return _view(q, session.get_one(User, q.user_id).name)


def get_query(hub: Hub, actor: Principal, query_id: int) -> QueryView:
    return _query_for(hub, actor, query_id, "read")


def read_result(hub: Hub, actor: Principal, query_id: int) -> pa.Table:
    """A query's stored result, for members of its project (and output checkers)."""
    import io

    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    view = _query_for(hub, actor, query_id, "result")
    data = hub.store().get(view.result_key).read()
    return pq.read_table(io.BytesIO(data))


def list_queries(hub: Hub, actor: Principal, project_id: int) -> list[QueryView]:
    from sqlalchemy import select

    with hub.transaction() as session:
        p = readable_project(hub, session, actor, project_id, {"queries": True})
        rows = session.execute(
            select(QueryRecord, User.name)
            .join(User, User.id == QueryRecord.user_id)
            .where(QueryRecord.project_id == p.id)
            .order_by(QueryRecord.id)
        )
        return [_view(q, name) for q, name in rows]
