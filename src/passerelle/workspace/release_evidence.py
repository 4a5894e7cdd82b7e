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
from passerelle.hub.keys import derive_project_key
from passerelle.hub.tables import Dataset, Project, ReleaseCell, ReleaseRequest
from passerelle.research.disclosure import DisclosurePolicy, Finding, ReleaseCheck, policy_named
from passerelle.research.disclosure.derive import SKETCH_SIZE, Derivation, TableFacts, derive
from passerelle.research.disclosure.differencing import (
    PersonSketch,
    decode_sketch,
    encode_sketch,
    too_close,
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
]

PERSON_DESCRIPTION = "person pseudonym"
"""How the catalog marks a dataset's person column (ingestion writes it)."""

MAX_DIFFERENCING_FINDINGS = 20


@dataclass(frozen=True)
class CellSketch:
    """The persons behind one cell (``cell`` -1: the whole release)."""

    cell: int
    label: dict[str, Any]
    sketch: PersonSketch


@dataclass(frozen=True)
class Evidence:
    """A checked release: the check, who computed the table, and the sketches to keep."""

    check: ReleaseCheck
    computed_by: Literal["hub", "researcher"]
    verified: bool
    sketches: tuple[CellSketch, ...] = ()
    evidence_sql_sha256: str | None = None

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


def _sketch_key(hub: Hub, project_id: int) -> bytes:
    master = derive_project_key(hub.keys.key("project"), project_id)
    return hmac.new(master, b"release-person-sketch", hashlib.sha256).digest()


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

    derivation = derive(sql, facts, result.column_names, _sketch_key(hub, project_id))
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
    if check.table is not None:
        hidden = check.table.column("suppressed").to_pylist()
        sketches = [s for s in sketches if s.cell < 0 or not hidden[s.cell]]
    check = _with(check, extra)
    digest = hashlib.sha256(derivation.sql.encode()).hexdigest()
    return Evidence(check, "hub", True, tuple(sketches), digest)


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
    rows = table.select([*derivation.spec.groups, *derivation.sketch_columns]).to_pylist()
    out = [
        CellSketch(
            index,
            {g: _plain(row[g]) for g in derivation.spec.groups},
            PersonSketch.of(row["_hub_cell_n"], row["_hub_xor"], row["_hub_sketch"]),
        )
        for index, row in enumerate(rows)
    ]
    if rows:
        first = rows[0]
        whole = PersonSketch.of(
            first["_hub_all_n"], first["_hub_all_xor"], first["_hub_all_sketch"]
        )
        out.append(CellSketch(-1, {}, whole))
    return out


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
) -> list[Finding]:
    """Findings for every kept cell of an earlier release of the project whose persons
    differ from one of these cells' by fewer than ``policy.differencing_min`` (not zero).
    Kept evidence that does not open (altered, or moved between rows) is a finding too."""
    from sqlalchemy import select

    threshold = policy.differencing_min
    if threshold is None or not sketches:
        return []
    key = _seal_key(hub, project_id)
    findings: list[Finding] = []
    for new in sketches:
        n = new.sketch.persons
        rows = session.execute(
            select(ReleaseCell, ReleaseRequest.id)
            .join(ReleaseRequest, ReleaseRequest.id == ReleaseCell.release_id)
            .where(
                ReleaseCell.project_id == project_id,
                ReleaseRequest.status != "rejected",
                ReleaseCell.persons > n - threshold,
                ReleaseCell.persons < n + threshold,
            )
            .order_by(ReleaseCell.id)
        )
        for old, release_id in rows:
            earlier = open_sketch(
                key, old.persons, old.sketch, _where(project_id, release_id, old.cell)
            )
            where = "the whole population" if old.cell < 0 else f"the cell {old.label}"
            mine = "this release's whole population" if new.cell < 0 else "this cell"
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
            cell = new.label if new.cell >= 0 else None
            findings.append(Finding("differencing", "review", detail, cell, None, release_id))
            if len(findings) >= MAX_DIFFERENCING_FINDINGS:
                return findings
    return findings


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
