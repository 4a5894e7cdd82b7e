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

from passerelle.errors import ConflictError, NotFoundError, UsageError, not_found
from passerelle.hub.audit import append_event, authorize
from passerelle.hub.projects import project_facts, readable_project
from passerelle.hub.rules import Action, Principal, Role
from passerelle.hub.tables import Dataset, Project, QueryRecord, ReleaseRequest, User
from passerelle.workspace.queries import read_result

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub
    from passerelle.research.disclosure import DisclosurePolicy, ReleaseCheck

__all__ = [
    "ReleaseView",
    "decide_release",
    "get_release",
    "list_releases",
    "read_release_output",
    "release_view",
    "request_release",
    "request_table_release",
]


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


def release_view(session: Session, r: ReleaseRequest, actor: Principal) -> ReleaseView:
    """What ``actor`` sees of a release request: output checkers the full checking report;
    anyone else (the requester, stewards, admins) every finding but without the withheld
    numbers (the value and detail of a cell's finding), which would let someone barred from
    the raw result rebuild the suppressed cells, and the hub's own person counts."""
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
        r.report if actor.has(Role.OUTPUT_CHECKER) else _viewer_report(r.report),
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

    from passerelle.spreadsheet_cells import safe_cell, safe_table

    keep = [c for c in table.column_names if c != "suppressed" and not c.startswith("_hub_")]
    published = safe_table(table.select(keep))  # opened in spreadsheets: no formulas
    published = published.rename_columns([str(safe_cell(c)) for c in published.column_names])
    buffer = io.BytesIO()
    pacsv.write_csv(published, buffer)
    base = f"releases/project-{r.project_id}/release-{r.id}"
    store = hub.store()
    body = buffer.getvalue()
    store.put(f"{base}.csv", body, size=len(body), content_type="text/csv")
    report = json.dumps(_public_report(r.report), indent=2, sort_keys=True, default=str).encode()
    store.put(f"{base}.report.json", report, size=len(report), content_type="application/json")
    return f"{base}.csv"


def _public_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report that leaves with a released table: which cells were withheld and why,
    never the withheld numbers (a finding's ``value`` and its detail carry the count or
    the dominance share of the very cell it suppressed). Checkers read the full report."""
    findings = [
        {
            "rule": f.get("rule"),
            "action": f.get("action"),
            "cell": f.get("cell"),
            "column": f.get("column"),
        }
        for f in report.get("findings", [])
    ]
    return {**report, "findings": findings}


_SHAPE_RULES = frozenset(
    {
        "structure",
        "identifying",
        "free-text",
        "row-level",
        "margin",
        "filter",
        "differencing",  # its value is the earlier release's id, its detail names it
        "evidence-not-verified",
    }
)
"""Findings about the table's shape or history, whose detail and value hold no cell's
statistic; the others (threshold, zero, dominance, p-ratio, secondary, order statistics)
carry the withheld number in both."""


def _viewer_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report for someone who is not an output checker: every finding with its rule,
    action, cell and column; detail and value only where they hold no withheld number."""
    findings = []
    for f in report.get("findings", []):
        kept = {k: f.get(k) for k in ("rule", "action", "cell", "column")}
        if f.get("rule") in _SHAPE_RULES:
            kept.update(detail=f.get("detail"), value=f.get("value"))
        findings.append(kept)
    return {**report, "findings": findings}


def _pending_table(hub: Hub, r: ReleaseRequest) -> pa.Table:
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    data = hub.store().get(f"releases/project-{r.project_id}/pending/release-{r.id}.parquet").read()
    return pq.ParquetFile(io.BytesIO(data)).read()  # one file: no dataset scanner threads


def request_release(
    hub: Hub,
    actor: Principal,
    query_id: int,
    *,
    groups: list[str] | None = None,
    statistics: list[str] | None = None,
) -> ReleaseView:
    """Check a query's result for release; release it at once only when nothing is flagged.

    The policy is the project's (set by a steward, never by the requester). The
    hub re-derives the query (``release_evidence.check_query``): for a shape it
    understands it computes the cells, persons and contributions itself and
    releases its own table; otherwise the researcher's result is checked but held
    for an output checker as "evidence not verified" (``groups``/``statistics``
    then say how to read it); row-level results are refused. A release whose
    populations differ from an earlier release's by a few persons is held too.
    """
    import pyarrow.parquet as pq

    from passerelle.workspace.release_evidence import (
        check_query,
        differencing_findings,
        keep_sketches,
        project_policy,
        table_facts,
        with_findings,
    )

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
        facts = table_facts(session, list(q.datasets))
        chosen = project_policy(p)
        project_id, sql = q.project_id, q.sql
    _check_placement(hub, actor, project_id, query_id)
    evidence = check_query(
        hub,
        actor,
        project_id,
        sql,
        result,
        facts,
        chosen,
        lambda: _researcher_check(result, identifying, groups, statistics, chosen),
    )
    with hub.transaction() as session:
        check = evidence.check
        if check.status != "fail":
            check = with_findings(
                check,
                differencing_findings(
                    hub, session, project_id, evidence.sketches, chosen, evidence.dataset
                ),
            )
        status = {"pass": "released", "review": "pending", "fail": "rejected"}[check.status]
        r = ReleaseRequest(
            query_id=query_id,
            project_id=project_id,
            requested_by=actor.user_id,
            status=status,
            policy=chosen.name,
            report={**check.report(), **evidence.report_fields()},
            output_key=None,
            decided_by=None,
            decided_at=None,
            comment="",
            created_at=hub.now(),
        )
        session.add(r)
        session.flush()
        if status != "rejected":
            keep_sketches(hub, session, r.id, project_id, evidence.sketches)
        append_event(
            hub,
            session,
            actor=actor.name,
            action="release.request",
            target=f"project:{project_id}",
            decision="allowed" if status != "rejected" else "denied",
            details={
                "project": project_id,
                "query": query_id,
                "release": r.id,
                "status": status,
                "policy": chosen.name,
                "computed_by": evidence.computed_by,
                "evidence_verified": evidence.verified,
                "findings_per_rule": r.report.get("findings_per_rule", {}),
            },
        )
        release_id = r.id
    if check.table is not None:
        buffer = io.BytesIO()
        pq.write_table(check.table, buffer)
        body = buffer.getvalue()
        hub.store().put(
            f"releases/project-{project_id}/pending/release-{release_id}.parquet",
            body,
            size=len(body),
        )
    with hub.transaction() as session:
        r = session.get_one(ReleaseRequest, release_id)
        if status == "released" and check.table is not None:
            r.output_key = _publish(hub, r, check.table)
        return release_view(session, r, actor)


def _check_placement(hub: Hub, actor: Principal, project_id: int, query_id: int) -> None:
    """Refuse (audited) a release the placement policy forbids where the hub writes: the
    pending table is row-level health data, the released one an aggregate."""
    from passerelle.hub.placement import enforce_placement
    from passerelle.sovereignty.policy import DEFAULT_CLASSIFICATION, RELEASE_CLASSIFICATION

    items = [
        (f"the release of query {query_id} (pending)", DEFAULT_CLASSIFICATION),
        (f"the release of query {query_id}", RELEASE_CLASSIFICATION),
    ]
    enforce_placement(hub, actor, "release.request", f"project:{project_id}", items)


def _researcher_check(
    result: pa.Table,
    identifying: frozenset[str],
    groups: list[str] | None,
    statistics: list[str] | None,
    policy: DisclosurePolicy,
) -> ReleaseCheck:
    """The check of the researcher's own result (for a query the hub cannot re-derive)."""
    from passerelle.research.disclosure import Finding, ReleaseCheck, check_release

    try:
        spec = _spec_for(result, identifying, groups, statistics)
    except UsageError as exc:
        if groups is not None or statistics is not None:
            raise UsageError(f"this result cannot be checked for release: {exc}") from None
        finding = Finding(
            "structure",
            "fail",
            "the result has no statistic column: row-level data never leaves the hub",
        )
        return ReleaseCheck("fail", policy.name, (finding,), None)
    if spec.persons not in result.column_names:
        import pyarrow as pa

        unchecked = 2**62  # persons unknown: only the result's own counts are checked
        with_persons = result.append_column(
            spec.persons, pa.array([unchecked] * result.num_rows, pa.int64())
        )
        checked = check_release(with_persons, spec, policy)
        if checked.status == "fail" or checked.table is None:
            return checked
        unknown = Finding(
            "persons-unknown",
            "review",
            "the result has no person count: nothing says how many persons are behind each cell",
        )
        findings = [f for f in checked.findings if f.column != spec.persons]
        table = checked.table.drop_columns([spec.persons])
        return ReleaseCheck("review", policy.name, (*findings, unknown), table)
    return check_release(result, spec, policy)


def request_table_release(
    hub: Hub,
    actor: Principal,
    project_id: int,
    dataset: str,
    groups: list[str],
    *,
    value: str | None = None,
    statistics: tuple[str, ...] = ("mean",),
) -> ReleaseView:
    """Release a table the hub writes the SQL of, from a granted dataset.

    Row counts per group (with ``value``: its ``sum``/``mean``/``count`` too),
    run in the project's sandbox and then released like any query: the hub
    derives the persons and contributions per cell itself.
    """
    from passerelle.research.disclosure import MAGNITUDE_STATISTICS, quote_identifier
    from passerelle.workspace.queries import run_query

    _person_column(hub, dataset)  # the hub derives persons from it: refuse a table without
    g = ", ".join(quote_identifier(c) for c in groups)
    if value is None:
        selected, where = "count(*) AS n_records", ""
    else:
        unknown = [s for s in statistics if s not in MAGNITUDE_STATISTICS]
        if unknown or not statistics:
            raise UsageError(
                f"statistics must be among {', '.join(MAGNITUDE_STATISTICS)}; "
                f"got {unknown or 'none'}"
            )
        v = quote_identifier(value)
        functions = {"sum": "sum", "mean": "avg", "count": "count"}
        selected = ", ".join(
            f"{functions[s]}({v}) AS {quote_identifier(f'{value}_{s}')}" for s in statistics
        )
        where = f" WHERE {v} IS NOT NULL"
    sql = (
        f"SELECT {g + ', ' if g else ''}{selected} FROM {quote_identifier(dataset)}{where}"
        f"{' GROUP BY ' + g + ' ORDER BY ' + g if g else ''}"
    )
    view, _ = run_query(hub, actor, project_id, sql)
    return request_release(hub, actor, view.id)


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
        if approve:  # before anything changes: a refusal commits only its audit event
            from passerelle.hub.placement import enforce_placement
            from passerelle.sovereignty.policy import RELEASE_CLASSIFICATION

            enforce_placement(
                hub,
                actor,
                "release.decide",
                f"project:{p.id}",
                [(f"release {r.id}", RELEASE_CLASSIFICATION)],
                session=session,
            )
        r.decided_by, r.decided_at, r.comment = actor.user_id, hub.now(), comment
        r.status = "released" if approve else "rejected"
        if approve:
            r.output_key = _publish(hub, r, _pending_table(hub, r))
        return release_view(session, r, actor)


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
        return release_view(session, r, actor)


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
        return [release_view(session, r, actor) for r in rows.order_by(ReleaseRequest.id)]
