"""The dataset catalog: its entries, searched, read, changed and classified.

Stewards register datasets (their suppliers in ``organizations``, their versions in
``dataset_versions``, what the rules decide them on in ``dataset_facts``). Who sees which
entry is decided by ``rules``; a researcher sees discoverable entries and those
granted to their active projects, nothing else, and never learns that a hidden
dataset exists.

A classification is never below the entry's floor (``sovereignty.floor``), read from
the column roles its schemas record (ingestion describes person pseudonym columns):
creating, versioning or classifying an entry below it is refused and audited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from passerelle.errors import (
    ConflictError,
    UsageError,
    not_found,
)
from passerelle.hub.audit import append_event, authorize, deny
from passerelle.hub.coverage import UNKNOWN, Coverage
from passerelle.hub.dataset_facts import (
    dataset_facts,
    dataset_floor,
    dataset_named,
    datasets_facts,
    refuse_below_floor,
)
from passerelle.hub.organizations import org_by_code
from passerelle.hub.rules import (
    Action,
    Principal,
    decide,
)
from passerelle.hub.tables import Dataset, Organization
from passerelle.hub.views import (
    Column,
    DatasetView,
    Page,
)
from passerelle.sovereignty.floor import catalog_roles, floor_of
from passerelle.sovereignty.policy import CLASSIFICATIONS as POLICY_CLASSIFICATIONS
from passerelle.storage.keys import DATASET, DERIVED, check_name

if TYPE_CHECKING:
    from sqlalchemy import Row, Select
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub

__all__ = [
    "CLASSIFICATIONS",
    "check_file",
    "classify_dataset",
    "create_dataset",
    "get_dataset",
    "list_datasets",
    "parse_schema",
    "schema_json",
    "update_dataset",
]

CLASSIFICATIONS = POLICY_CLASSIFICATIONS  # where each may live: sovereignty.policy


def _choice(value: str, allowed: Iterable[str], what: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise UsageError(f"unknown {what} {value!r}: use one of {', '.join(allowed)}")
    return value


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


def schema_json(columns: list[Column]) -> list[Any]:
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
        floor = floor_of(catalog_roles(schema_json(columns)))
        if not floor.admits(classification):
            target = f"dataset:{name}"
            refuse_below_floor(
                hub, session, actor, "dataset.create", target, name, floor, classification
            )
        org = org_by_code(session, organization)
        if session.execute(select(Dataset.id).where(Dataset.name == name)).first():
            raise ConflictError(f"a dataset named {name!r} already exists")
        d = Dataset(
            name=name,
            description=description,
            organization_id=org.id,
            classification=classification,
            format=format,
            discoverable=discoverable,
            schema=schema_json(columns),
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


def check_file(url: str) -> str:
    """A version's file: a store URL, or a key of the hub's store that cannot climb nor
    name another kind of the hub's files (a project's workspace, a release, the audit)."""
    from passerelle.hub.layout import check_version_key

    return _check_location(url) if "://" in url else check_version_key(url)


def _check_location(url: str) -> str:
    from passerelle.storage.urls import parse_store_url

    parse_store_url(url)
    return url


def get_dataset(hub: Hub, actor: Principal, name: str) -> DatasetView:
    with hub.transaction() as session:
        d = dataset_named(session, name)
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
        d = dataset_named(session, name)
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


def classify_dataset(hub: Hub, actor: Principal, name: str, classification: str) -> DatasetView:
    """Change a dataset's classification (stewards), re-checking the placement policy where
    the hub writes; refused (audited) when the policy forbids it there, when its files
    would have to change form (plaintext to ciphertext or back), and below its floor."""
    from passerelle.hub.placement import enforce_placement

    _choice(classification, CLASSIFICATIONS, "classification")
    with hub.transaction() as session:
        d = dataset_named(session, name)
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
