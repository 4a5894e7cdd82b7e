"""Researchers' SQL over their project's granted datasets, kept in the project's workspace.

``run_query`` resolves what the caller may read *now* (an active project they
belong to, unexpired grants, granted columns only), runs the SQL in the
research sandbox over the datasets' Parquet read through the hub's data store
(whatever cloud it is on, and during a live move; the project's own extract,
with project-keyed pseudonyms, when a steward made one), stores the result as
Parquet under ``workspaces/project-<id>/queries/`` and audits the query: actor,
project, statement digest, datasets touched, rows, decision. Refusals are
audited too, then raised.

A record and its result are written atomically: the result goes first, under a
key no other query uses, then the record and its audit event in one
transaction; if that transaction fails the result is deleted (and ``passerelle
queries purge`` sweeps any file a crash left without a record). A record is only
visible once its result is whole, and every read checks the result's SHA-256.

Row-level results are read only by the project's researcher members, while the
project is active and for ``result_retention_days`` (``hub.toml``) after the
query ran (``rules.decide``, action ``query.read-result``); to anyone else a
result is as missing as a query that does not exist.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from passerelle.errors import (
    ConflictError,
    PasserelleError,
    QueryError,
    SandboxViolation,
    UsageError,
    not_found,
)
from passerelle.hub.audit import append_event, authorize
from passerelle.hub.projects import (
    GrantedDataset,
    granted_datasets,
    project_facts,
    readable_project,
)
from passerelle.hub.rules import Action, Principal, ResultFacts
from passerelle.hub.tables import Project, QueryRecord, User

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

    from passerelle.hub.hub import Hub
    from passerelle.research import QueryOutcome
    from passerelle.research.caps import LimitRequest
    from passerelle.storage import Store

__all__ = [
    "QueryView",
    "get_query",
    "kept_until",
    "list_queries",
    "read_result",
    "run_query",
    "workspace_prefix",
]


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
    result_sha256: str
    kept_until: str
    purged: bool


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


def kept_until(created: date, retention_days: int) -> date:
    """The last day a result made on ``created`` may be read (pure)."""
    return created + timedelta(days=retention_days)


def _view(hub: Hub, q: QueryRecord, user: str) -> QueryView:
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
        q.result_sha256,
        kept_until(q.created_at.date(), hub.config.result_retention_days).isoformat(),
        q.purged_at is not None,
    )


def run_query(
    hub: Hub,
    actor: Principal,
    project_id: int,
    sql: str,
    limits: LimitRequest | None = None,
) -> tuple[QueryView, pa.Table]:
    """Run ``sql`` for ``actor`` in ``project_id``; return the record and the result table.

    The record's ``duration_s`` is the time the researcher waited, measured by the hub
    from the request to the stored result (grants, sandbox, result written to the
    store): a live move paces itself on it, and the store's part is what a move slows."""
    from passerelle.research import TableSource, run_sandboxed

    started = time.perf_counter()
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
        outcome = run_sandboxed(sql, tables, resolved, hub.scan_cache(), hub.sandbox_pool())
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
    table, body = _stored_form(hub, actor, project_id, outcome)
    key = f"{workspace_prefix(project_id)}/queries/result-{uuid.uuid4().hex}.parquet"
    digest = hashlib.sha256(body).hexdigest()
    try:
        store.put(key, body, size=len(body), content_type="application/vnd.apache.parquet")
    except PasserelleError as exc:
        _audit_failure(hub, actor, project_id, outcome, "result-store", str(exc))
        raise
    try:
        waited = time.perf_counter() - started
        view = _record(hub, actor, project_id, sql, outcome, key, digest, waited)
    except BaseException:
        with suppress(PasserelleError):
            store.delete(key)
        raise
    return view, table


def _stored_form(
    hub: Hub, actor: Principal, project_id: int, outcome: QueryOutcome
) -> tuple[pa.Table, bytes]:
    """The result as the hub keeps it (exact types) and its Parquet bytes; refusals audited."""
    from passerelle.research.results import result_parquet, storable_table

    try:
        table = storable_table(outcome.result)
        return table, result_parquet(table)
    except UsageError as exc:
        _audit_failure(hub, actor, project_id, outcome, "result-type", str(exc))
        raise


def _audit_failure(
    hub: Hub, actor: Principal, project_id: int, outcome: QueryOutcome, reason: str, message: str
) -> None:
    details = {**outcome.audit_details(), "decision": "error", "reason": reason}
    with hub.transaction() as session:
        append_event(
            hub,
            session,
            actor=actor.name,
            action="query.run",
            target=f"project:{project_id}",
            decision="error",
            details={"project": project_id, **details, "message": message},
        )


def _record(
    hub: Hub,
    actor: Principal,
    project_id: int,
    sql: str,
    outcome: QueryOutcome,
    key: str,
    digest: str,
    waited_s: float,
) -> QueryView:
    """The query's record and its audit event, in one transaction, once the result is stored."""
    with hub.transaction() as session:
        record = QueryRecord(
            project_id=project_id,
            user_id=actor.user_id,
            sql=sql,
            digest=outcome.digest,
            datasets=list(outcome.tables),
            rows=outcome.rows,
            truncated=outcome.truncated,
            result_key=key,
            duration_s=waited_s,
            created_at=hub.now(),
            result_sha256=digest,
        )
        session.add(record)
        session.flush()
        append_event(
            hub,
            session,
            actor=actor.name,
            action="query.run",
            target=f"project:{project_id}",
            decision="allowed",
            details={
                "project": project_id,
                "query": record.id,
                **outcome.audit_details(),
                "result_sha256": digest,
            },
        )
        return _view(hub, record, actor.name)


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
        return _view(hub, q, session.get_one(User, q.user_id).name)


def get_query(hub: Hub, actor: Principal, query_id: int) -> QueryView:
    return _query_for(hub, actor, query_id, "read")


def read_result(hub: Hub, actor: Principal, query_id: int) -> pa.Table:
    """A query's stored result, for the researcher members of its active project, until it
    expires; checked against the SHA-256 recorded when it was written."""
    import io

    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    with hub.transaction() as session:
        q = session.get(QueryRecord, query_id)
        if q is None:
            raise not_found("query", query_id)
        facts = ResultFacts(
            q.id,
            kept_until(q.created_at.date(), hub.config.result_retention_days),
            q.purged_at is not None,
        )
        authorize(
            hub,
            session,
            actor,
            Action.QUERY_READ_RESULT,
            f"project:{q.project_id}",
            {"project": q.project_id, "query": q.id, "result": True},
            missing=not_found("query", query_id),
            project=project_facts(session, session.get_one(Project, q.project_id)),
            result=facts,
        )
        key, expected = q.result_key, q.result_sha256
    data = hub.store().get(key).read()
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise ConflictError(
            f"the stored result of query {query_id} is not the one the hub wrote "
            "(its SHA-256 differs); ask an administrator to check the data store"
        )
    return pq.ParquetFile(io.BytesIO(data)).read()  # one file: no dataset scanner threads


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
        return [_view(hub, q, name) for q, name in rows]
