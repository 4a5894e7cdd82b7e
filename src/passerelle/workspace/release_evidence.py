"""The evidence behind a release, computed by the hub: never the researcher's columns.

:func:`check_query` reads the researcher's SQL with
:func:`passerelle.research.disclosure.derive.derive`; a query the hub understands
is re-run as the hub's own evidence query in the sandbox (the catalogued person
column is read even when the grant hides it, since only counts, contributions
and keyed hashes come out) and the *hub's* table is checked and released.  A
query it cannot re-derive is checked on the researcher's result but always held
for an output checker, marked "evidence not verified"; a row-level one is
refused.  :func:`differencing_findings` compares the persons behind each cell
with those of the project's earlier releases; :func:`keep_sketches` stores them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from passerelle.errors import PasserelleError
from passerelle.hub.tables import Dataset, Project, QueryRecord, ReleaseCell, ReleaseRequest
from passerelle.keys.hub_secrets import derive_project_key
from passerelle.research.disclosure import DisclosurePolicy, Finding, ReleaseCheck, policy_named
from passerelle.research.disclosure.derive import SKETCH_SIZE, Derivation, TableFacts, derive
from passerelle.research.disclosure.differencing import (
    PersonSketch,
    decode_sketch,
    encode_sketch,
    too_close,
)
from passerelle.research.disclosure.evidence_sql import (
    statistic_sketch_columns,
    whole_statistic_sketch_columns,
)
from passerelle.research.disclosure.spec import looks_identifying

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub
    from passerelle.hub.rules import Principal

__all__ = [
    "PERSON_DESCRIPTION",
    "CellSketch",
    "Evidence",
    "check_query",
    "differencing_findings",
    "keep_sketches",
    "open_sketch",
    "project_policy",
    "seal_sketch",
    "table_facts",
    "within_release_differencing",
]

PERSON_DESCRIPTION = "person pseudonym"
"""How the catalog marks a dataset's person column (ingestion writes it)."""

MAX_DIFFERENCING_FINDINGS = 20


@dataclass(frozen=True)
class CellSketch:
    """The persons behind one cell (``cell`` -1: the whole release), or behind one
    statistic of a cell whose ``FILTER`` or null values give it other persons than
    the cell's (``statistic`` names it; ``cell`` is then a number of its own).
    ``row`` is the result row it belongs to (``None`` for the whole release)."""

    cell: int
    label: dict[str, Any]
    sketch: PersonSketch
    row: int | None = None
    statistic: str | None = None


@dataclass(frozen=True)
class Evidence:
    """A checked release: the check, who computed the table, and the sketches to keep."""

    check: ReleaseCheck
    computed_by: Literal["hub", "researcher"]
    verified: bool
    sketches: tuple[CellSketch, ...] = ()
    evidence_sql_sha256: str | None = None
    dataset: str | None = None

    def report_fields(self) -> dict[str, Any]:
        return {
            "computed_by": self.computed_by,
            "evidence_verified": self.verified,
            "evidence_sql_sha256": self.evidence_sql_sha256,
        }


def project_policy(p: Project) -> DisclosurePolicy:
    """The disclosure policy a steward set for the project."""
    policy = policy_named(p.disclosure_policy or "sacro")
    return dataclasses.replace(policy, order_statistics=bool(p.order_statistics))


def table_facts(session: Session, dataset_names: Sequence[str]) -> dict[str, TableFacts]:
    """What the catalog says about the datasets a query read."""
    out: dict[str, TableFacts] = {}
    for d in session.query(Dataset).filter(Dataset.name.in_(list(dataset_names))):
        columns = [dict(c) for c in d.schema]
        names = frozenset(str(c.get("name", "")) for c in columns)
        person = next(
            (str(c["name"]) for c in columns if c.get("description") == PERSON_DESCRIPTION), None
        )
        identifying = frozenset(
            str(c.get("name", ""))
            for c in columns
            if looks_identifying(str(c.get("name", "")))
            or "pseudonym" in str(c.get("description", ""))
        )
        out[d.name] = TableFacts(person, names, identifying)
    return out


def _sketch_key(hub: Hub, dataset: str) -> bytes:
    """The key of the person hashes of releases over ``dataset``: one per dataset, for the
    whole hub, so that two projects (or one researcher in two projects) releasing the
    same population but one person are compared; the sketches stay sealed per project."""
    info = b"release-person-sketch/dataset:" + dataset.encode()
    return hmac.new(hub.keys.key("project"), info, hashlib.sha256).digest()


def _derivation_key(hub: Hub, sql: str, facts: dict[str, TableFacts]) -> bytes:
    from passerelle.research.disclosure.parse_tree import parse_select

    node = parse_select(sql) or {}
    table = str((node.get("from_table") or {}).get("table_name", "")).lower()
    name = next((n for n in facts if n.lower() == table), "")
    return _sketch_key(hub, name)


def check_query(
    hub: Hub,
    actor: Principal,
    project_id: int,
    sql: str,
    result: pa.Table,
    facts: dict[str, TableFacts],
    policy: DisclosurePolicy,
    researcher_check: Callable[[], ReleaseCheck],
) -> Evidence:
    """Check the query ``sql`` (whose stored result is ``result``) for release.

    ``researcher_check`` is called with no argument to check the researcher's own
    result when the hub cannot re-derive it (the findings still help the checker).
    """
    from passerelle.research.disclosure import check_release

    derivation = derive(sql, facts, result.column_names, _derivation_key(hub, sql, facts))
    if derivation.verdict == "row-level":
        findings = tuple(Finding("row-level", "fail", reason) for reason in derivation.reasons)
        return Evidence(ReleaseCheck("fail", policy.name, findings, None), "hub", True)
    table = _run_evidence(hub, actor, project_id, derivation)
    if derivation.verdict == "derived" and table is None:
        derivation = Derivation(
            "unverified", ("the hub's evidence query could not run on the granted data",)
        )
    if derivation.verdict != "derived" or table is None:
        return _unverified(researcher_check(), derivation, policy)
    assert derivation.spec is not None and derivation.sql is not None
    sketches = _sketches(table, derivation)
    checked_table = table.drop_columns(list(derivation.sketch_columns))
    check = check_release(checked_table, derivation.spec, policy)
    extra = [Finding("filter", "review", reason) for reason in derivation.review]
    if table.num_rows == 0:
        extra.append(
            Finding(
                "zero",
                "review",
                "the result has no cell: its emptiness says that no person matches the query",
            )
        )
    extra += within_release_differencing(sketches, policy)
    extra += _dominance_without_a_rule(checked_table, derivation.spec, policy)
    if check.table is not None:
        hidden = check.table.column("suppressed").to_pylist()
        sketches = [s for s in sketches if s.row is None or not hidden[s.row]]
    check = _with(check, extra)
    digest = hashlib.sha256(derivation.sql.encode()).hexdigest()
    return Evidence(check, "hub", True, tuple(sketches), digest, derivation.table)


def _unverified(check: ReleaseCheck, derivation: Derivation, policy: DisclosurePolicy) -> Evidence:
    why = "; ".join(derivation.reasons) or "the query is not a shape the hub derives"
    finding = Finding(
        "evidence-not-verified",
        "review",
        f"evidence not verified: {why}. The person counts and contributions in this report "
        "are the researcher's own columns; an output checker must read the query",
    )
    return Evidence(_with(check, [finding]), "researcher", False)


def _with(check: ReleaseCheck, findings: Sequence[Finding]) -> ReleaseCheck:
    """``check`` with more findings; a ``pass`` becomes ``review`` when any needs a person."""
    if not findings:
        return check
    status = check.status
    if status == "pass" and any(f.action in ("review", "suppress", "redact") for f in findings):
        status = "review"
    return ReleaseCheck(status, check.policy, (*check.findings, *findings), check.table)


def _run_evidence(
    hub: Hub, actor: Principal, project_id: int, derivation: Derivation
) -> pa.Table | None:
    from passerelle.hub.projects import granted_datasets
    from passerelle.research import TableSource, run_sandboxed
    from passerelle.workspace.queries import _source_prefix

    if derivation.sql is None or derivation.table is None:
        return None
    with hub.transaction() as session:
        granted = {g.name: g for g in granted_datasets(hub, actor, project_id, session)}
        facts = table_facts(session, [derivation.table])
    g = granted.get(derivation.table)
    person = facts[derivation.table].person if derivation.table in facts else None
    if g is None or person is None:
        return None
    store = hub.store()
    columns = None if not g.columns else tuple(dict.fromkeys([*g.columns, person]))
    source = TableSource(store, _source_prefix(store, project_id, g), columns)
    try:
        limits = dataclasses.replace(hub.query_limits(), row_limit_action="refuse")
        outcome = run_sandboxed(
            derivation.sql, {g.name: source}, limits, hub.scan_cache(), hub.sandbox_pool()
        )
    except PasserelleError:
        return None  # never surface the message: the evidence SQL carries the sketch key
    return outcome.result


def _sketches(table: pa.Table, derivation: Derivation) -> list[CellSketch]:
    from passerelle.research.disclosure.check import _plain

    assert derivation.spec is not None
    spec = derivation.spec
    rows = table.select([*spec.groups, *derivation.sketch_columns]).to_pylist()
    out: list[CellSketch] = []
    numbers = len(rows)  # statistic sketches are numbered after the cells
    for index, row in enumerate(rows):
        label = {g: _plain(row[g]) for g in spec.groups}
        cell = PersonSketch.of(row["_hub_cell_n"], row["_hub_xor"], row["_hub_sketch"])
        out.append(CellSketch(index, label, cell, index))
        for j, name in enumerate(spec.statistics):
            n, minima, xor = statistic_sketch_columns(j)
            if n not in row:
                continue
            own = PersonSketch.of(row[n], row[xor], row[minima])
            if (own.persons, own.fingerprint) == (cell.persons, cell.fingerprint):
                continue  # the cell's own persons: the cell's sketch covers it
            numbers += 1
            stat_label = {**label, "_hub_statistic": name}
            out.append(CellSketch(numbers, stat_label, own, index, name))
    if rows:
        first = rows[0]
        whole = PersonSketch.of(
            first["_hub_all_n"], first["_hub_all_xor"], first["_hub_all_sketch"]
        )
        out.append(CellSketch(-1, {}, whole))
        for j, name in enumerate(spec.statistics):
            n, minima, xor = whole_statistic_sketch_columns(j)
            if n not in first:
                continue
            own = PersonSketch.of(first[n], first[xor], first[minima])
            if (own.persons, own.fingerprint) != (whole.persons, whole.fingerprint):
                numbers += 1
                out.append(CellSketch(numbers, {"_hub_statistic": name}, own, None, name))
    return out


def _dominance_without_a_rule(
    table: pa.Table, spec: Any, policy: DisclosurePolicy
) -> list[Finding]:
    """Under a policy with no dominance rule (OpenSAFELY's, which relies on output checkers
    for magnitudes), a cell where the two largest persons make 90% or more of the total is
    still never released at once: a ``dominance`` review finding, nothing suppressed."""
    from passerelle.research.disclosure import SACRO_DEFAULTS

    if policy.nk_k is not None or policy.p_ratio is not None or not spec.dominance:
        return []
    limit = SACRO_DEFAULTS.nk_k or 0.9
    findings: list[Finding] = []
    for row in table.to_pylist():
        for d in spec.dominance:
            try:
                total = float(row[d.total] or 0)
                top = float(row[d.top1] or 0) + float(row[d.top2] or 0)
                negative = int(row[d.negative] or 0) > 0
            except (TypeError, ValueError):
                total, top, negative = 0.0, 1.0, True  # evidence it cannot read: hold
            if negative or (total > 0 and top / total >= limit) or (total <= 0 and top != 0):
                cell = {g: row[g] for g in spec.groups}
                detail = (
                    f"one or two persons make {limit:.0%} or more of {d.statistic!r} here (or "
                    "some contributions are negative); the project's policy has no dominance "
                    "rule, so an output checker must judge it"
                )
                findings.append(Finding("dominance", "review", detail, cell, d.statistic))
                if len(findings) >= MAX_DIFFERENCING_FINDINGS:
                    return findings
    return findings


def within_release_differencing(
    sketches: Sequence[CellSketch], policy: DisclosurePolicy
) -> list[Finding]:
    """Findings for two statistics of one cell (or a statistic and its cell) whose persons
    differ by fewer than ``policy.differencing_min``: ``sum(cost)`` beside
    ``sum(cost) FILTER (WHERE age <> 97)`` gives that one person's cost by subtraction."""
    threshold = policy.differencing_min
    if threshold is None:
        return []
    by_row: dict[int, list[CellSketch]] = {}
    for s in sketches:
        if s.row is not None:
            by_row.setdefault(s.row, []).append(s)
    findings: list[Finding] = []
    for group in by_row.values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if not too_close(a.sketch, b.sketch, threshold, SKETCH_SIZE):
                    continue
                first = f"the statistic {a.statistic!r}" if a.statistic else "the cell"
                detail = (
                    f"{first} and the statistic {b.statistic!r} of this release have fewer "
                    f"than {threshold} persons more or less than each other: subtracting "
                    "one from the other may disclose them"
                )
                cell = {k: v for k, v in b.label.items() if k != "_hub_statistic"}
                findings.append(Finding("differencing", "review", detail, cell, b.statistic))
                if len(findings) >= MAX_DIFFERENCING_FINDINGS:
                    return findings
    return findings


def _seal_key(hub: Hub, project_id: int) -> bytes:
    master = derive_project_key(hub.keys.key("project"), project_id)
    return hmac.new(master, b"release-person-sketch-seal", hashlib.sha256).digest()


def _where(project_id: int, release_id: int, cell: int) -> bytes:
    return f"project:{project_id}/release:{release_id}/cell:{cell}".encode()


def seal_sketch(key: bytes, sketch: PersonSketch, where: bytes) -> str:
    """The fingerprint and hashes of ``sketch``, encrypted (AES-256-GCM) and bound to ``where``."""
    import base64
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    payload = (f"{sketch.fingerprint:016x}" + encode_sketch(sketch.minima)).encode()
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, payload, where)).decode()


def open_sketch(key: bytes, persons: int, sealed: str, where: bytes) -> PersonSketch | None:
    """The sketch :func:`seal_sketch` sealed, or ``None`` if it was altered or moved."""
    import base64
    import binascii

    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        raw = base64.b64decode(sealed, validate=True)
        text = AESGCM(key).decrypt(raw[:12], raw[12:], where).decode()
        return PersonSketch(persons, int(text[:16], 16), decode_sketch(text[16:]))
    except (InvalidTag, ValueError, binascii.Error):
        return None


def differencing_findings(
    hub: Hub,
    session: Session,
    project_id: int,
    sketches: Sequence[CellSketch],
    policy: DisclosurePolicy,
    dataset: str | None = None,
) -> list[Finding]:
    """Findings for every kept cell of an earlier release whose persons differ from one of
    these cells' by fewer than ``policy.differencing_min`` (not zero): the project's
    releases, and those of every other project over the same ``dataset`` (releases are
    public: two projects, or one researcher in two, subtract as well as one).
    Kept evidence that does not open (altered, or moved between rows) is a finding too."""
    from sqlalchemy import or_, select

    threshold = policy.differencing_min
    if threshold is None or not sketches:
        return []
    keys: dict[int, bytes] = {}
    others = _releases_over(session, project_id, dataset)
    findings: list[Finding] = []
    for new in sketches:
        n = new.sketch.persons
        rows = session.execute(
            select(ReleaseCell, ReleaseRequest.id)
            .join(ReleaseRequest, ReleaseRequest.id == ReleaseCell.release_id)
            .where(
                or_(ReleaseCell.project_id == project_id, ReleaseCell.release_id.in_(others)),
                ReleaseRequest.status != "rejected",
                ReleaseCell.persons > n - threshold,
                ReleaseCell.persons < n + threshold,
            )
            .order_by(ReleaseCell.id)
        )
        for old, release_id in rows:
            if old.project_id not in keys:
                keys[old.project_id] = _seal_key(hub, old.project_id)
            earlier = open_sketch(
                keys[old.project_id],
                old.persons,
                old.sketch,
                _where(old.project_id, release_id, old.cell),
            )
            where = "the whole population" if old.cell < 0 else f"the cell {old.label}"
            if old.project_id != project_id:
                where += " (of another project)"
            mine = "this release's whole population" if new.cell < 0 else "this cell"
            if new.statistic is not None:
                mine = f"the statistic {new.statistic!r} of this " + (
                    "cell" if new.row is not None else "release's whole population"
                )
            if earlier is None:
                detail = (
                    f"the kept evidence of {where} of release {release_id} does not open "
                    "(altered or moved): differencing against it could not be checked"
                )
            elif too_close(earlier, new.sketch, threshold, SKETCH_SIZE):
                detail = (
                    f"{mine} has fewer than {threshold} persons more or less than {where} of "
                    f"release {release_id}: subtracting one from the other may disclose them"
                )
            else:
                continue
            cell = (
                {k: v for k, v in new.label.items() if k != "_hub_statistic"}
                if new.row is not None
                else None
            )
            findings.append(
                Finding("differencing", "review", detail, cell, new.statistic, release_id)
            )
            if len(findings) >= MAX_DIFFERENCING_FINDINGS:
                return findings
    return findings


def _releases_over(session: Session, project_id: int, dataset: str | None) -> list[int]:
    """The releases of other projects whose query read ``dataset`` (and nothing else)."""
    from sqlalchemy import select

    if dataset is None:
        return []
    rows = session.execute(
        select(ReleaseRequest.id, QueryRecord.datasets)
        .join(QueryRecord, QueryRecord.id == ReleaseRequest.query_id)
        .where(ReleaseRequest.project_id != project_id, ReleaseRequest.status != "rejected")
    )
    return [rid for rid, datasets in rows if list(datasets or []) == [dataset]]


def with_findings(check: ReleaseCheck, findings: Sequence[Finding]) -> ReleaseCheck:
    """``check`` with ``findings`` added (a ``pass`` becomes ``review``)."""
    return _with(check, findings)


def keep_sketches(
    hub: Hub,
    session: Session,
    release_id: int,
    project_id: int,
    sketches: Sequence[CellSketch],
) -> None:
    """Store the person sketches of a release's released cells, sealed with a hub key."""
    key = _seal_key(hub, project_id)
    for s in sketches:
        session.add(
            ReleaseCell(
                release_id=release_id,
                project_id=project_id,
                cell=s.cell,
                label=s.label,
                persons=s.sketch.persons,
                sketch=seal_sketch(key, s.sketch, _where(project_id, release_id, s.cell)),
            )
        )
