"""Taking a query result out of the hub: disclosure control, then two people.

``request_release`` checks a stored query result with the hub's disclosure
policy (``passerelle.research.disclosure``). A ``pass`` is released at once; a
``review`` (cells suppressed, or something needing judgement) waits for an
output-checker who is not the requester (``decide_release``); a ``fail``
(row-level data, pseudonyms, free text) is refused for good. The released file
is the checked table (suppressed cells empty, the evidence columns dropped),
written with its checking report under ``releases/project-<id>/`` in the hub's
data store. Every step is audited.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from passerelle.errors import ConfigError, ConflictError, NotFoundError, UsageError, not_found
from passerelle.hub.audit import append_event, authorize
from passerelle.hub.projects import project_facts, readable_project
from passerelle.hub.rules import Action, Principal
from passerelle.hub.tables import Dataset, Project, QueryRecord, ReleaseRequest, User
from passerelle.workspace.queries import read_result

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub

__all__ = [
    "ReleaseView",
    "decide_release",
    "get_release",
    "list_releases",
    "read_release_output",
    "request_release",
    "request_table_release",
]

_EVIDENCE = ("total", "top1", "top2", "n_negative", "suppressed")


@dataclass(frozen=True)
class ReleaseView:
    id: int
    query_id: int
    project_id: int
    requested_by: str
    status: str
    policy: str
    report: dict[str, Any]
    output_key: str | None
    decided_by: str | None
    comment: str


def _view(session: Session, r: ReleaseRequest) -> ReleaseView:
    names = dict(
        session.query(User.id, User.name)
        .filter(User.id.in_({r.requested_by, r.decided_by or 0}))
        .all()
    )
    return ReleaseView(
        r.id,
        r.query_id,
        r.project_id,
        names[r.requested_by],
        r.status,
        r.policy,
        r.report,
        r.output_key,
        names.get(r.decided_by) if r.decided_by else None,
        r.comment,
    )


_STATISTIC_NAME = re.compile(
    r"^(n|count|sum|mean|avg|median|total|min|max|pct|p\d+)(_|$)|_(n|count|sum|mean|avg|median|"
    r"total|eur|amount|rate)$",
    re.IGNORECASE,
)


def _spec_for(
    table: pa.Table,
    identifying: frozenset[str],
    groups: list[str] | None,
    statistics: list[str] | None,
) -> Any:
    """Read a result as a table: statistics are numeric columns named like one (``n_...``,
    ``..._sum``...), groups are the rest; ``--group``/``--statistic`` say it exactly."""
    import pyarrow.types as pat  # type: ignore[import-untyped]

    from passerelle.research.disclosure import DOMINANCE_COLUMNS, PERSONS_COLUMN, TableSpec

    names = table.column_names
    skip = {PERSONS_COLUMN, *DOMINANCE_COLUMNS}

    def numeric(name: str) -> bool:
        kind = table.schema.field(name).type
        return bool(pat.is_integer(kind) or pat.is_floating(kind) or pat.is_decimal(kind))

    stats = statistics or [
        n for n in names if n not in skip and numeric(n) and _STATISTIC_NAME.search(n)
    ]
    group_cols = groups if groups is not None else [n for n in names if n not in skip | set(stats)]
    kind = "magnitude" if all(c in names for c in DOMINANCE_COLUMNS[:3]) else "frequency"
    return TableSpec(tuple(group_cols), tuple(stats), kind, identifying)  # type: ignore[arg-type]


def _identifying_columns(session: Session, dataset_names: list[str]) -> frozenset[str]:
    from passerelle.research.disclosure import looks_identifying

    out: set[str] = set()
    for d in session.query(Dataset).filter(Dataset.name.in_(dataset_names)):
        for column in d.schema:
            name = str(column.get("name", ""))
            if looks_identifying(name) or "pseudonym" in str(column.get("description", "")):
                out.add(name)
    return frozenset(out)


def _publish(hub: Hub, r: ReleaseRequest, table: pa.Table) -> str:
    """Write the released table (CSV) and its report beside it; return the CSV key."""
    import pyarrow.csv as pacsv  # type: ignore[import-untyped]

    keep = [c for c in table.column_names if c not in _EVIDENCE]
    buffer = io.BytesIO()
    pacsv.write_csv(table.select(keep), buffer)
    base = f"releases/project-{r.project_id}/release-{r.id}"
    store = hub.store()
    body = buffer.getvalue()
    store.put(f"{base}.csv", body, size=len(body), content_type="text/csv")
    report = json.dumps(r.report, indent=2, sort_keys=True, default=str).encode()
    store.put(f"{base}.report.json", report, size=len(report), content_type="application/json")
    return f"{base}.csv"


def _pending_table(hub: Hub, r: ReleaseRequest) -> pa.Table:
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    data = hub.store().get(f"releases/project-{r.project_id}/pending/release-{r.id}.parquet").read()
    return pq.read_table(io.BytesIO(data))


def request_release(
    hub: Hub,
    actor: Principal,
    query_id: int,
    *,
    policy: str = "sacro",
    groups: list[str] | None = None,
    statistics: list[str] | None = None,
    computed_by_hub: bool = False,
) -> ReleaseView:
    """Check a query's result for release; release it at once only when nothing is flagged.

    The report says whether the hub wrote the SQL (``request_table_release``) or the
    researcher did, in which case ``n_persons`` and any dominance evidence are the
    researcher's own computation: an output checker should read the query.
    """
    import pyarrow.parquet as pq

    from passerelle.research.disclosure import (
        Finding,
        ReleaseCheck,
        check_release,
        policy_named,
    )

    try:
        chosen = policy_named(policy)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    result = read_result(hub, actor, query_id)
    with hub.transaction() as session:
        q = session.get(QueryRecord, query_id)
        if q is None:
            raise not_found("query", query_id)
        p = session.get_one(Project, q.project_id)
        authorize(
            hub,
            session,
            actor,
            Action.RELEASE_REQUEST,
            f"project:{p.id}",
            {"project": p.id, "query": q.id},
            missing=not_found("query", query_id),
            project=project_facts(session, p),
        )
        identifying = _identifying_columns(session, list(q.datasets))
    try:
        spec = _spec_for(result, identifying, groups, statistics)
    except UsageError as exc:
        if groups is not None or statistics is not None:
            raise UsageError(f"this result cannot be checked for release: {exc}") from None
        check = ReleaseCheck(
            "fail",
            chosen.name,
            (
                Finding(
                    "structure",
                    "fail",
                    "the result has no statistic column: row-level data never leaves the hub",
                ),
            ),
            None,
        )
    else:
        check = check_release(result, spec, chosen)
    status = {"pass": "released", "review": "pending", "fail": "rejected"}[check.status]
    with hub.transaction() as session:
        r = ReleaseRequest(
            query_id=query_id,
            project_id=q.project_id,
            requested_by=actor.user_id,
            status=status,
            policy=chosen.name,
            report={**check.report(), "computed_by": "hub" if computed_by_hub else "researcher"},
            output_key=None,
            decided_by=None,
            decided_at=None,
            comment="",
            created_at=hub.now(),
        )
        session.add(r)
        session.flush()
        append_event(
            hub,
            session,
            actor=actor.name,
            action="release.request",
            target=f"project:{q.project_id}",
            decision="allowed" if status != "rejected" else "denied",
            details={
                "project": q.project_id,
                "query": query_id,
                "release": r.id,
                "status": status,
                "policy": chosen.name,
                "findings_per_rule": r.report.get("findings_per_rule", {}),
            },
        )
        release_id = r.id
    if check.table is not None:
        buffer = io.BytesIO()
        pq.write_table(check.table, buffer)
        body = buffer.getvalue()
        hub.store().put(
            f"releases/project-{q.project_id}/pending/release-{release_id}.parquet",
            body,
            size=len(body),
        )
    with hub.transaction() as session:
        r = session.get_one(ReleaseRequest, release_id)
        if status == "released" and check.table is not None:
            r.output_key = _publish(hub, r, check.table)
        return _view(session, r)


def request_table_release(
    hub: Hub,
    actor: Principal,
    project_id: int,
    dataset: str,
    groups: list[str],
    *,
    value: str | None = None,
    statistics: tuple[str, ...] = ("mean",),
    policy: str = "sacro",
) -> ReleaseView:
    """Release a table the hub computes itself from a granted dataset.

    The hub writes the SQL (``frequency_query`` counts rows and distinct persons
    per group; with ``value``, ``magnitude_query`` adds the statistics and the
    dominance evidence), runs it in the project's sandbox, then checks it: no
    researcher-supplied ``n_persons`` or ``top1``/``top2`` is trusted.
    """
    from passerelle.research.disclosure import frequency_query, magnitude_query
    from passerelle.workspace.queries import run_query

    person = _person_column(hub, dataset)
    if value is None:
        sql, spec = frequency_query(dataset, groups, person)
    else:
        sql, spec = magnitude_query(dataset, groups, value, person, statistics)
    view, _ = run_query(hub, actor, project_id, sql)
    return request_release(
        hub,
        actor,
        view.id,
        policy=policy,
        groups=list(spec.groups),
        statistics=list(spec.statistics),
        computed_by_hub=True,
    )


def _person_column(hub: Hub, dataset: str) -> str:
    from sqlalchemy import select

    with hub.db.read() as session:
        d = session.execute(select(Dataset).where(Dataset.name == dataset)).scalar_one_or_none()
        columns = list(d.schema) if d is not None else []
    for column in columns:
        if column.get("description") == "person pseudonym":
            return str(column["name"])
    raise UsageError(
        f"dataset {dataset!r} has no person pseudonym column the hub can count persons with; "
        "release a query result instead"
    )


def decide_release(
    hub: Hub, actor: Principal, release_id: int, *, approve: bool, comment: str = ""
) -> ReleaseView:
    """An output-checker (not the requester) approves or rejects a flagged release."""
    with hub.transaction() as session:
        r = session.get(ReleaseRequest, release_id)
        if r is None:
            raise not_found("release", release_id)
        p = session.get_one(Project, r.project_id)
        verdict = "approve" if approve else "reject"
        authorize(
            hub,
            session,
            actor,
            Action.RELEASE_DECIDE,
            f"project:{p.id}",
            {"project": p.id, "release": r.id, "decision": verdict, "comment": comment},
            missing=not_found("release", release_id),
            project=project_facts(session, p),
            requested_by=r.requested_by,
        )
        if r.status != "pending":
            raise ConflictError(f"release {r.id} is {r.status}; only pending releases are decided")
        r.decided_by, r.decided_at, r.comment = actor.user_id, hub.now(), comment
        r.status = "released" if approve else "rejected"
        if approve:
            r.output_key = _publish(hub, r, _pending_table(hub, r))
        return _view(session, r)


def get_release(hub: Hub, actor: Principal, release_id: int) -> ReleaseView:
    with hub.transaction() as session:
        r = session.get(ReleaseRequest, release_id)
        if r is None:
            raise not_found("release", release_id)
        readable_project(
            hub,
            session,
            actor,
            r.project_id,
            {"release": r.id},
            missing=not_found("release", release_id),
        )
        return _view(session, r)


def read_release_output(hub: Hub, actor: Principal, release_id: int) -> bytes:
    """The released CSV of a release the caller may see; not found until it is released."""
    view = get_release(hub, actor, release_id)
    if view.status != "released" or not view.output_key:
        raise NotFoundError(
            f"release {release_id} is {view.status}: there is no output to download"
        )
    return hub.store().get(view.output_key).read()


def list_releases(hub: Hub, actor: Principal, project_id: int) -> list[ReleaseView]:
    with hub.transaction() as session:
        p = readable_project(hub, session, actor, project_id, {"releases": True})
        rows = session.query(ReleaseRequest).filter(ReleaseRequest.project_id == p.id)
        return [_view(session, r) for r in rows.order_by(ReleaseRequest.id)]
