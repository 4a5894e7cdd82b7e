"""The dataset catalog: supplying organizations, datasets and their versions.

Stewards register organizations and datasets and add versions (each with its
schema, row count, files and their digests; ingestion adds them). Who sees which
entry is decided by ``rules``; a researcher sees discoverable entries and those
granted to their active projects, nothing else, and never learns that a hidden
dataset exists.

A classification is never below the entry's floor (``sovereignty.floor``), read from
the column roles its schemas record (ingestion describes person pseudonym columns):
creating, versioning or classifying an entry below it is refused and audited.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn

from passerelle.errors import (
    ConflictError,
    NotFoundError,
    PolicyViolationError,
    UsageError,
    not_found,
)
from passerelle.hub.audit import append_event, authorize, deny
from passerelle.hub.coverage import UNKNOWN, Coverage
from passerelle.hub.rules import (
    Action,
    DatasetFacts,
    GrantFacts,
    Principal,
    decide,
    is_quarantine,
)
from passerelle.hub.tables import Dataset, DatasetVersion, Grant, Organization, Project, User
from passerelle.hub.views import (
    Column,
    DatasetFile,
    DatasetVersionView,
    DatasetView,
    OrganizationView,
    Page,
)
from passerelle.sovereignty.floor import Floor, catalog_roles, floor_of
from passerelle.sovereignty.policy import CLASSIFICATIONS as POLICY_CLASSIFICATIONS
from passerelle.storage.keys import DATASET, DERIVED, check_name

if TYPE_CHECKING:
    from datetime import date, datetime

    from sqlalchemy import Row, Select
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub

__all__ = [
    "CLASSIFICATIONS",
    "ORGANIZATION_KINDS",
    "add_version",
    "classify_dataset",
    "create_dataset",
    "create_organization",
    "dataset_facts",
    "dataset_floor",
    "get_dataset",
    "list_datasets",
    "list_organizations",
    "list_versions",
    "refuse_below_floor",
    "update_dataset",
]

ORGANIZATION_KINDS = ("hospital", "insurer", "registry", "research-institute")
CLASSIFICATIONS = POLICY_CLASSIFICATIONS  # where each may live: sovereignty.policy
_ORG_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _choice(value: str, allowed: Iterable[str], what: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise UsageError(f"unknown {what} {value!r}: use one of {', '.join(allowed)}")
    return value


def _org_view(o: Organization) -> OrganizationView:
    return OrganizationView(o.id, o.code, o.name, o.kind, o.created_at)


def parse_schema(schema: Iterable[Mapping[str, Any] | Column]) -> list[Column]:
    columns = []
    for raw in schema:
        col = (
            raw
            if isinstance(raw, Column)
            else Column(
                str(raw.get("name", "")), str(raw.get("type", "")), str(raw.get("description", ""))
            )
        )
        if not col.name or not col.type:
            raise UsageError("every schema column needs a name and a type")
        columns.append(col)
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise UsageError("schema column names must be unique")
    return columns


def _schema_json(columns: list[Column]) -> list[Any]:
    return [{"name": c.name, "type": c.type, "description": c.description} for c in columns]


def _dataset_view(d: Dataset | Row[Any], organization: str) -> DatasetView:
    """The view of an entry (a ``Dataset`` or a row of ``_catalog_entries``) and its
    supplier's code."""
    return DatasetView(
        d.id,
        d.name,
        d.description,
        organization,
        d.classification,
        d.format,
        d.discoverable,
        parse_schema(d.schema),
        d.row_count,
        list(d.locations),
        d.current_version,
        d.created_at,
        d.covers_from,
        d.covers_until,
    )


def create_organization(
    hub: Hub, actor: Principal, code: str, name: str, kind: str
) -> OrganizationView:
    from sqlalchemy import select

    if not _ORG_CODE.fullmatch(code):
        raise UsageError(f"invalid organization code {code!r}: use letters, digits, '.', '_', '-'")
    _choice(kind, ORGANIZATION_KINDS, "organization kind")
    if not name.strip():
        raise UsageError("an organization needs a name")
    with hub.transaction() as session:
        authorize(hub, session, actor, Action.ORG_CREATE, f"org:{code}", {"kind": kind})
        if session.execute(select(Organization.id).where(Organization.code == code)).first():
            raise ConflictError(f"an organization with code {code!r} already exists")
        org = Organization(code=code, name=name.strip(), kind=kind, created_at=hub.now())
        session.add(org)
        session.flush()
        return _org_view(org)


def list_organizations(
    hub: Hub, actor: Principal, *, limit: int = 100, offset: int = 0
) -> Page[OrganizationView]:
    from sqlalchemy import func, select

    with hub.transaction() as session:
        authorize(hub, session, actor, Action.ORG_READ, "orgs")
        total = session.execute(select(func.count(Organization.id))).scalar_one()
        rows = session.execute(
            select(Organization).order_by(Organization.id).limit(limit).offset(offset)
        )
        return Page([_org_view(o) for (o,) in rows], total, limit, offset)


def _org_by_code(session: Session, code: str) -> Organization:
    from sqlalchemy import select

    org = session.execute(
        select(Organization).where(Organization.code == code)
    ).scalar_one_or_none()
    if org is None:
        raise NotFoundError(f"no organization with code {code!r}: register it first")
    return org


def create_dataset(
    hub: Hub,
    actor: Principal,
    *,
    name: str,
    organization: str,
    classification: str,
    description: str = "",
    schema: Iterable[Mapping[str, Any] | Column] = (),
    format: str = "parquet",
    discoverable: bool = True,
    locations: Iterable[str] = (),
    derived: bool = False,
    covers: Coverage = UNKNOWN,
) -> DatasetView:
    """Register a dataset entry. ``name`` follows ``storage.keys.DATASET``; ``derived``
    marks a name the hub made itself (ingestion's ``<name>_<table>`` and
    ``<name>_quarantine``), the only ones that may end with a reserved suffix."""
    from sqlalchemy import select

    check_name(name, DERIVED if derived else DATASET)
    _choice(classification, CLASSIFICATIONS, "classification")
    columns = parse_schema(schema)
    location_list = [_check_location(u) for u in locations]
    with hub.transaction() as session:
        authorize(
            hub,
            session,
            actor,
            Action.DATASET_CREATE,
            f"dataset:{name}",
            {"organization": organization, "classification": classification},
        )
        floor = floor_of(catalog_roles(_schema_json(columns)))
        if not floor.admits(classification):
            target = f"dataset:{name}"
            refuse_below_floor(
                hub, session, actor, "dataset.create", target, name, floor, classification
            )
        org = _org_by_code(session, organization)
        if session.execute(select(Dataset.id).where(Dataset.name == name)).first():
            raise ConflictError(f"a dataset named {name!r} already exists")
        d = Dataset(
            name=name,
            description=description,
            organization_id=org.id,
            classification=classification,
            format=format,
            discoverable=discoverable,
            schema=_schema_json(columns),
            row_count=None,
            locations=location_list,
            current_version=0,
            created_by=actor.user_id,
            created_at=hub.now(),
            covers_from=covers.start,
            covers_until=covers.end,
        )
        session.add(d)
        session.flush()
        append_event(
            hub,
            session,
            actor=actor.name,
            action="dataset.created",
            target=f"dataset:{d.id}",
            decision="allowed",
            details={"dataset": d.id, "name": name},
        )
        return _dataset_view(d, org.code)


def _check_file(url: str) -> str:
    """A version's file: a store URL, or a key of the hub's store that cannot climb nor
    name another kind of the hub's files (a project's workspace, a release, the audit)."""
    from passerelle.hub.layout import check_version_key

    return _check_location(url) if "://" in url else check_version_key(url)


def _check_location(url: str) -> str:
    from passerelle.storage.urls import parse_store_url

    parse_store_url(url)
    return url


def _dataset_named(session: Session, name: str, missing: NotFoundError | None = None) -> Dataset:
    from sqlalchemy import select

    d = session.execute(select(Dataset).where(Dataset.name == name)).scalar_one_or_none()
    if d is None:
        raise missing or not_found("dataset", name)
    return d


def dataset_facts(session: Session, d: Dataset) -> DatasetFacts:
    """The dataset's visibility plus every grant reaching it, for the rules."""
    return datasets_facts(session, [d])[d.id]


def datasets_facts(
    session: Session, datasets: Sequence[Dataset | Row[Any]]
) -> dict[int, DatasetFacts]:
    """``dataset_facts`` of many datasets at once, by id, in a few queries (the catalog's
    list decides every entry: one query per entry made every read wait on the database)."""
    from collections import defaultdict

    from passerelle.hub.database import chunked
    from passerelle.hub.projects import projects_facts

    # SQL Core rows, not entities, from statements built once: every catalog read asks
    # this of every entry, and building a statement cost more than running it
    grants: dict[int, list[Any]] = defaultdict(list)
    held: dict[int, list[str]] = defaultdict(list)
    connection = session.connection()
    for ids in chunked([d.id for d in datasets]):
        for row in connection.execute(_grants_reaching(), {"ids": list(ids)}):
            grants[row.dataset_id].append(row)
        files = connection.execute(_version_files(), {"ids": list(ids)})
        for dataset_id, version_files in files:
            held[dataset_id] += [str(f["url"]) for f in version_files]
    projects = projects_facts(session, [row for rows in grants.values() for row in rows])
    return {
        d.id: DatasetFacts(
            d.id,
            d.discoverable,
            tuple(
                GrantFacts(projects[g.id], g.expires_on, g.revoked_at is not None)
                for g in grants[d.id]
            ),
            quarantine=is_quarantine(d.name, [*d.locations, *held[d.id]]),
        )
        for d in datasets
    }


@cache
def _grants_reaching() -> Select[  # each grant, then its project's FACT_COLUMNS
    int, date, datetime | None, int, str, int, int, date, date
]:
    """Each grant of the datasets ``:ids``, with the columns its project's facts need."""
    from sqlalchemy import bindparam, select

    from passerelle.hub.projects import FACT_COLUMNS

    return (
        select(Grant.dataset_id, Grant.expires_on, Grant.revoked_at, *FACT_COLUMNS)
        .join(Project, Project.id == Grant.project_id)
        .where(Grant.dataset_id.in_(bindparam("ids", expanding=True)))
        .order_by(Grant.id)
    )


@cache
def _version_files() -> Select[Any]:
    """The files of every version of the datasets ``:ids``."""
    from sqlalchemy import bindparam, select

    return select(DatasetVersion.dataset_id, DatasetVersion.files).where(
        DatasetVersion.dataset_id.in_(bindparam("ids", expanding=True))
    )


def dataset_floor(session: Session, d: Dataset) -> Floor:
    """The least classification ``d`` requires: the strictest of its schemas' column roles
    (the entry's and every version's, so a later version cannot lower it)."""
    from sqlalchemy import select

    columns = list(d.schema)
    for (schema,) in session.execute(
        select(DatasetVersion.schema).where(DatasetVersion.dataset_id == d.id)
    ):
        columns += list(schema)
    return floor_of(catalog_roles(columns))


def refuse_below_floor(
    hub: Hub,
    session: Session,
    actor: Principal,
    action: str,
    target: str,
    dataset: str,
    floor: Floor,
    classification: str,
) -> NoReturn:
    """Audit a classification below ``dataset``'s floor as denied, commit, and raise
    :class:`PolicyViolationError` with the one sentence saying what to classify it."""
    message = floor.refusal(dataset)
    append_event(
        hub,
        session,
        actor=actor.name,
        action=action,
        target=target,
        decision="denied",
        details={
            "rule": f"{floor.classification}.floor",
            "dataset": dataset,
            "classification": classification,
            "column": floor.column,
            "reason": message,
        },
    )
    session.commit()
    raise PolicyViolationError(message)


def get_dataset(hub: Hub, actor: Principal, name: str) -> DatasetView:
    with hub.transaction() as session:
        d = _dataset_named(session, name)
        authorize(
            hub,
            session,
            actor,
            Action.DATASET_READ_ENTRY,
            f"dataset:{d.id}",
            missing=not_found("dataset", name),
            dataset=dataset_facts(session, d),
        )
        return _dataset_view(d, session.get_one(Organization, d.organization_id).code)


def list_datasets(
    hub: Hub,
    actor: Principal,
    *,
    limit: int = 100,
    offset: int = 0,
    search: str | None = None,
) -> Page[DatasetView]:
    """The catalog entries this actor may see (filtered by the rules, one audit event).

    ``search`` keeps the entries whose name, description or supplier's code holds it
    (any case); it narrows what the rules let through, never widens it.
    """
    today = hub.now().date()
    needle = (search or "").strip().casefold()
    with hub.transaction() as session:
        entries = session.connection().execute(_catalog_entries()).all()
        facts = datasets_facts(session, entries)
        visible = [
            d
            for d in entries
            if decide(actor, Action.DATASET_READ_ENTRY, today=today, dataset=facts[d.id]).allowed
            and _matches(d, needle)
        ]
        page = visible[offset : offset + limit]
        authorize_list(hub, session, actor, len(visible), search=needle or None)
        return Page([_dataset_view(d, d.organization) for d in page], len(visible), limit, offset)


@cache
def _catalog_entries() -> Select[Any]:
    """Every entry with what its view and its facts need, its supplier's code as
    ``organization``: SQL Core from a statement built once (every catalog read runs it,
    and loading entities cost more than the query)."""
    from sqlalchemy import select

    return (
        select(
            Dataset.id,
            Dataset.name,
            Dataset.description,
            Organization.code.label("organization"),
            Dataset.classification,
            Dataset.format,
            Dataset.discoverable,
            Dataset.schema,
            Dataset.row_count,
            Dataset.locations,
            Dataset.current_version,
            Dataset.created_at,
            Dataset.covers_from,
            Dataset.covers_until,
        )
        .join(Organization, Organization.id == Dataset.organization_id)
        .order_by(Dataset.id)
    )


def _matches(d: Row[Any], needle: str) -> bool:
    """Whether a catalog entry holds ``needle`` (already case-folded; empty: every entry)."""
    if not needle:
        return True
    return any(needle in text.casefold() for text in (d.name, d.description or "", d.organization))


def authorize_list(
    hub: Hub, session: Session, actor: Principal, visible: int, *, search: str | None = None
) -> None:
    details: dict[str, Any] = {"visible": visible}
    if search is not None:
        details["search"] = search
    append_event(
        hub,
        session,
        actor=actor.name,
        action="dataset.list",
        target="datasets",
        decision="allowed",
        details=details,
    )


def update_dataset(
    hub: Hub,
    actor: Principal,
    name: str,
    *,
    description: str | None = None,
    discoverable: bool | None = None,
    locations: Iterable[str] | None = None,
    covers: Coverage | None = None,
) -> DatasetView:
    """Change what is given (``None``: unchanged; ``Coverage()`` makes the period unknown)."""
    with hub.transaction() as session:
        d = _dataset_named(session, name)
        changes: dict[str, Any] = {}
        if description is not None:
            changes["description"] = description
        if discoverable is not None:
            changes["discoverable"] = discoverable
        if locations is not None:
            changes["locations"] = list(locations)
        if covers is not None:
            changes["covers_from"], changes["covers_until"] = covers.start, covers.end
        authorize(
            hub,
            session,
            actor,
            Action.DATASET_UPDATE,
            f"dataset:{d.id}",
            _update_details(changes, covers),
            missing=not_found("dataset", name),
            dataset=dataset_facts(session, d),
        )
        for location in changes.get("locations", ()):
            _check_location(location)  # after the decision: a hidden entry answers "not found"
        for key, value in changes.items():
            setattr(d, key, value)
        return _dataset_view(d, session.get_one(Organization, d.organization_id).code)


def _update_details(changes: dict[str, Any], covers: Coverage | None) -> dict[str, Any]:
    """What ``update_dataset`` audits: the changes, the period as one text."""
    details = {k: v for k, v in changes.items() if not k.startswith("covers_")}
    if covers is not None:
        details["covers"] = str(covers)
    return details


def add_version(
    hub: Hub,
    actor: Principal,
    name: str,
    *,
    digest: str,
    schema: Iterable[Mapping[str, Any] | Column],
    row_count: int,
    files: Iterable[DatasetFile],
    note: str = "",
) -> DatasetVersionView:
    """Register a new version; the same content digest again returns the existing one."""
    from sqlalchemy import func, select

    columns = parse_schema(schema)
    file_list = list(files)
    for f in file_list:
        _check_file(f.url)
    if row_count < 0:
        raise UsageError("a version cannot have a negative row count")
    with hub.transaction() as session:
        d = _dataset_named(session, name)
        authorize(
            hub,
            session,
            actor,
            Action.DATASET_UPDATE,
            f"dataset:{d.id}",
            {"dataset": d.id, "digest": digest, "rows": row_count},
            missing=not_found("dataset", name),
            dataset=dataset_facts(session, d),
        )
        floor = floor_of(catalog_roles(_schema_json(columns)))
        if not floor.admits(d.classification):
            target = f"dataset:{d.id}"
            refuse_below_floor(
                hub, session, actor, "dataset.update", target, name, floor, d.classification
            )
        existing = session.execute(
            select(DatasetVersion).where(
                DatasetVersion.dataset_id == d.id, DatasetVersion.digest == digest
            )
        ).scalar_one_or_none()
        if existing is not None:
            return _version_view(session, d, existing)
        number = (
            session.execute(
                select(func.max(DatasetVersion.version)).where(DatasetVersion.dataset_id == d.id)
            ).scalar()
            or 0
        ) + 1
        v = DatasetVersion(
            dataset_id=d.id,
            version=number,
            digest=digest,
            schema=_schema_json(columns),
            row_count=row_count,
            files=[f.__dict__ for f in file_list],
            note=note,
            created_by=actor.user_id,
            created_at=hub.now(),
        )
        session.add(v)
        d.current_version, d.row_count, d.schema = number, row_count, _schema_json(columns)
        prefixes = sorted({f.url.rsplit("/", 1)[0] for f in file_list})
        d.locations = sorted(set(d.locations) | set(prefixes))
        session.flush()
        return _version_view(session, d, v)


def _version_view(session: Session, d: Dataset, v: DatasetVersion) -> DatasetVersionView:
    creator = session.get_one(User, v.created_by)
    return DatasetVersionView(
        d.name,
        v.version,
        v.digest,
        v.row_count,
        parse_schema(v.schema),
        [DatasetFile(**f) for f in v.files],
        v.note,
        creator.name,
        v.created_at,
    )


def list_versions(hub: Hub, actor: Principal, name: str) -> list[DatasetVersionView]:
    from sqlalchemy import select

    with hub.transaction() as session:
        d = _dataset_named(session, name)
        authorize(
            hub,
            session,
            actor,
            Action.DATASET_READ_ENTRY,
            f"dataset:{d.id}",
            {"versions": True},
            missing=not_found("dataset", name),
            dataset=dataset_facts(session, d),
        )
        rows = session.execute(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == d.id)
            .order_by(DatasetVersion.version)
        )
        return [_version_view(session, d, v) for (v,) in rows]


def classify_dataset(hub: Hub, actor: Principal, name: str, classification: str) -> DatasetView:
    """Change a dataset's classification (stewards), re-checking the placement policy where
    the hub writes; refused (audited) when the policy forbids it there, when its files
    would have to change form (plaintext to ciphertext or back), and below its floor."""
    from passerelle.hub.placement import enforce_placement

    _choice(classification, CLASSIFICATIONS, "classification")
    with hub.transaction() as session:
        d = _dataset_named(session, name)
        authorize(
            hub,
            session,
            actor,
            Action.DATASET_UPDATE,
            f"dataset:{d.id}",
            {"classification": classification, "from": d.classification},
            missing=not_found("dataset", name),
            dataset=dataset_facts(session, d),
        )
        before = d.classification
        org = session.get_one(Organization, d.organization_id)
        if before == classification:
            return _dataset_view(d, org.code)
        encrypt = hub.config.encrypt
        if (before in encrypt) != (classification in encrypt) and (
            d.current_version or d.locations
        ):
            form = "ciphertext" if before in encrypt else "plaintext"
            reason = (
                f"{name}'s files are kept as {form} ({before!r}) and {classification!r} is "
                f"kept otherwise (hub.toml encrypt); ingest it again under the new "
                "classification instead"
            )
            deny(hub, session, actor, "dataset.classify", f"dataset:{d.id}", reason)
        floor = dataset_floor(session, d)
        if not floor.admits(classification):
            target = f"dataset:{d.id}"
            refuse_below_floor(
                hub, session, actor, "dataset.classify", target, name, floor, classification
            )
        enforce_placement(
            hub,
            actor,
            "dataset.classify",
            f"dataset:{d.id}",
            [(name, classification)],
            session=session,
        )
        d.classification = classification
        append_event(
            hub,
            session,
            actor=actor.name,
            action="dataset.classify",
            target=f"dataset:{d.id}",
            decision="allowed",
            details={"dataset": d.id, "from": before, "to": classification},
        )
        return _dataset_view(d, org.code)
