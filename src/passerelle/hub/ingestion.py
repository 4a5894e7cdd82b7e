"""Ingestion into the hub: pseudonymize a source, register it in the catalog, audit it.

``ingest_dataset`` runs the ingestion pipeline (``passerelle.ingest``) with the
hub's pseudonymization key, writing into the hub's live-routed data store under
``datasets/<name>/`` (quarantine under ``quarantine/<name>/``), then registers
each output table as a catalog dataset version: the source's name for a
one-table source, ``<name>_<table>`` for a FHIR export, and the quarantine as
the non-discoverable ``<name>_quarantine`` (stewards see it; it is never granted).
Re-ingesting the same input gives the same content digest, hence the same
version and no duplicate files. ``extract_dataset`` writes a project's own copy
of a dataset with person pseudonyms re-keyed by the project's key.

The classification is checked against the floor the schema itself requires
(``sovereignty.floor``: a person pseudonym column makes it at least
health-pseudonymized, an identity kept as written health-identifying): a steward's
label below it is refused (audited), whatever they call the rows. Without a
classification an ingest takes ``DEFAULT_CLASSIFICATION`` raised to that floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from passerelle.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    UsageError,
)
from passerelle.hub.audit import append_event, authorize, deny
from passerelle.hub.catalog import create_dataset
from passerelle.hub.dataset_facts import dataset_facts, dataset_floor, refuse_below_floor
from passerelle.hub.dataset_versions import add_version
from passerelle.hub.ingest_history import record_ingest_run
from passerelle.hub.landing import PinnedSource, landing_allows, pin_source, source_allowed
from passerelle.hub.layout import IngestTargets, extract_prefix, ingest_targets, made_by_ingest
from passerelle.hub.rules import Action, Principal
from passerelle.hub.tables import Dataset, DatasetVersion, Project
from passerelle.hub.views import DatasetFile
from passerelle.keys.hub_secrets import derive_project_key
from passerelle.sovereignty.floor import (
    IDENTITY_AS_WRITTEN,
    PERSON_PSEUDONYM,
    Floor,
    floor_of,
    identity_columns,
    schema_roles,
    stricter,
)
from passerelle.sovereignty.policy import DEFAULT_CLASSIFICATION, check_classification

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub
    from passerelle.ingest import IngestResult, SourceSchema

__all__ = [
    "ExtractReport",
    "IngestReport",
    "extract_dataset",
    "ingest_dataset",
    "source_allowed",
]

QUARANTINE_CLASSIFICATION = DEFAULT_CLASSIFICATION
"""Rows refused at ingestion keep identifiers as shapes only, but stay health data."""


@dataclass(frozen=True)
class IngestReport:
    datasets: list[tuple[str, int]]  # (catalog name, version number)
    version: str
    rows_in: int
    rows_accepted: int
    rows_quarantined: int
    reasons: list[tuple[str, int]]
    quarantine_files: list[str]
    reused: bool


@dataclass(frozen=True)
class ExtractReport:
    project_id: int
    dataset: str
    prefix: str
    files: int
    rows: int
    rekeyed_columns: list[str]


def _schema(schema: SourceSchema | str | Path) -> SourceSchema:
    from passerelle.ingest import SourceSchema, load_schema, shipped_schema

    if isinstance(schema, SourceSchema):
        return schema
    text = str(schema)
    if not text.endswith(".toml") and "/" not in text:
        try:
            return shipped_schema(text)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    return load_schema(text)


def _exists(hub: Hub, name: str) -> bool:
    from sqlalchemy import select

    with hub.db.read() as session:
        return session.execute(select(Dataset.id).where(Dataset.name == name)).first() is not None


def ingest_dataset(
    hub: Hub,
    actor: Principal,
    *,
    dataset: str,
    organization: str,
    source_url: str,
    schema: SourceSchema | str | Path,
    kind: str | None = None,
    classification: str | None = None,
    description: str = "",
    discoverable: bool = True,
) -> IngestReport:
    """Ingest ``source_url`` as catalog dataset(s) ``dataset`` (stewards), classified
    ``classification`` (default: ``DEFAULT_CLASSIFICATION`` raised to the schema's floor)."""
    from passerelle.ingest import ingest

    spec = _schema(schema)
    targets = ingest_targets(dataset, [view.name for view in spec.views])  # before any write
    floors = {targets.tables[v.name]: floor_of(schema_roles(v)) for v in spec.views}
    if classification is None:
        classification = DEFAULT_CLASSIFICATION
        for floor in floors.values():
            classification = stricter(classification, floor.classification)
    with hub.transaction() as session:
        authorize(
            hub,
            session,
            actor,
            Action.DATASET_UPDATE,
            f"dataset:{dataset}",
            {"ingest": source_url, "organization": organization},
        )
        _refuse_foreign_entries(session, targets)
        if not landing_allows(hub.config.ingest_sources, source_url):  # real paths
            deny(
                hub,
                session,
                actor,
                "ingest.run",
                f"dataset:{dataset}",
                f"{source_url} is not under the hub's ingest_sources; ask an admin to add "
                "its landing area to hub.toml",
                {"source": source_url},
            )
    _check_classification(hub, actor, dataset, targets, classification, floors)
    root = targets.root
    pinned = _pinned(hub, actor, dataset, source_url)
    try:  # read what was checked: links swapped in after the check are refused
        result = ingest(
            pinned.url,
            schema=spec,
            pseudonym_key=hub.keys.key("pseudonym"),
            output_url=f"hub:{root}",
            kind=kind,
            quarantine_url=f"hub:{targets.quarantine_root}",
            output_store=hub.store_at(root, classification=classification),
            quarantine_store=hub.store_at(
                targets.quarantine_root, classification=QUARANTINE_CLASSIFICATION
            ),
            source_label=source_url,
        )
    finally:
        pinned.close()
    identities = {v.name: identity_columns(v) for v in spec.views}
    registered = _register(
        hub,
        actor,
        result,
        dataset,
        root,
        organization,
        classification,
        description,
        discoverable,
        identities,
    )
    with hub.transaction() as session:
        append_event(
            hub,
            session,
            actor=actor.name,
            action="ingest.run",
            target=f"dataset:{dataset}",
            decision="allowed",
            details={
                "source": source_url,
                "version": result.version,
                "rows_in": result.rows_in,
                "rows_accepted": result.rows_accepted,
                "rows_quarantined": result.rows_quarantined,
                "reused": result.reused,
                "datasets": [name for name, _ in registered],
            },
        )
        record_ingest_run(
            hub,
            session,
            actor,
            dataset=dataset,
            organization=organization,
            source=source_url,
            version=result.version,
            counts=(result.rows_in, result.rows_accepted, result.rows_quarantined),
            reasons=result.reasons,
            datasets=[name for name, _ in registered],
            reused=result.reused,
        )
    return IngestReport(
        registered,
        result.version,
        result.rows_in,
        result.rows_accepted,
        result.rows_quarantined,
        [(r, n) for r, n in result.reasons],
        [f"quarantine/{dataset}/{f.key}" for f in result.quarantine_files],
        result.reused,
    )


def _check_classification(
    hub: Hub,
    actor: Principal,
    dataset: str,
    targets: IngestTargets,
    classification: str,
    floors: dict[str, Floor],
) -> None:
    """Refuse an ingest whose classification is below a table's floor (from the schema), or
    differs from its entries' (their files would be kept in two forms), or that the placement
    policy forbids where the hub writes (each audited but the second)."""
    from sqlalchemy import select

    from passerelle.hub.placement import enforce_placement

    check_classification(classification)
    for name, floor in floors.items():
        if not floor.admits(classification):
            with hub.transaction() as session:
                target = f"dataset:{dataset}"
                refuse_below_floor(
                    hub, session, actor, "ingest.run", target, name, floor, classification
                )
    with hub.db.read() as session:
        for name, _folder in targets.catalog_names()[:-1]:
            held = session.execute(
                select(Dataset.classification).where(Dataset.name == name)
            ).scalar_one_or_none()
            if held is not None and held != classification:
                raise ConflictError(
                    f"the dataset {name!r} is classified {held!r}, not {classification!r}; "
                    f"ingest it as {held!r} or run `passerelle catalog classify {name} "
                    f"{classification}` first"
                )
    items = [(name, classification) for name, _ in targets.catalog_names()[:-1]]
    items.append((targets.quarantine, QUARANTINE_CLASSIFICATION))
    enforce_placement(hub, actor, "ingest.run", f"dataset:{dataset}", items)


def _pinned(hub: Hub, actor: Principal, dataset: str, source_url: str) -> PinnedSource:
    """The source to read, pinned when the hub has landing areas; a refusal is audited."""
    if not hub.config.ingest_sources:
        return PinnedSource(source_url)
    try:
        return pin_source(source_url)
    except PermissionDeniedError as exc:
        with hub.transaction() as session:
            target, details = f"dataset:{dataset}", {"source": source_url}
            deny(hub, session, actor, "ingest.run", target, str(exc), details)


def _refuse_foreign_entries(session: Session, targets: IngestTargets) -> None:
    """Refuse an ingest whose catalog names belong to entries it did not make.

    A FHIR ingest of ``a`` registers ``a_patient``: if ``a_patient`` already exists
    with files elsewhere (ingested as itself, or by another name), adding a version
    would hand that entry's grants a different source's rows.
    """
    from sqlalchemy import select

    for name, folder in targets.catalog_names():
        d = session.execute(select(Dataset).where(Dataset.name == name)).scalar_one_or_none()
        if d is None or (d.current_version == 0 and not d.locations):
            continue
        if not made_by_ingest(d.locations, folder):
            raise ConflictError(
                f"the catalog already has a dataset {name!r} that was not ingested as "
                f"{targets.dataset!r}; choose another dataset name"
            )


def _register(
    hub: Hub,
    actor: Principal,
    result: IngestResult,
    dataset: str,
    root: str,
    organization: str,
    classification: str,
    description: str,
    discoverable: bool,
    identities: dict[str, tuple[str, ...]],
) -> list[tuple[str, int]]:
    """Register each table's version; its columns' descriptions record the roles the
    classification floor reads back (``sovereignty.floor.catalog_roles``)."""
    registered = []
    single = len(result.tables) == 1
    for table in result.tables:
        name = dataset if single else f"{dataset}_{table.name}"
        kept_as_written = identities.get(table.name, ())
        columns = [
            {
                "name": c,
                "type": t,
                "description": PERSON_PSEUDONYM
                if c == table.person_column
                else IDENTITY_AS_WRITTEN
                if c in kept_as_written
                else "",
            }
            for c, t in table.columns
        ]
        if not _exists(hub, name):
            create_dataset(
                hub,
                actor,
                derived=True,
                name=name,
                organization=organization,
                classification=classification,
                description=description or f"ingested from {result.source_url}",
                schema=columns,
                discoverable=discoverable,
            )
        files = [DatasetFile(f"{root}/{f.key}", f.size, f.sha256, f.rows) for f in table.files]
        version = add_version(
            hub,
            actor,
            name,
            digest=f"{result.version}:{table.name}",
            schema=columns,
            row_count=table.rows,
            files=files,
            note=f"{result.rows_quarantined} rows quarantined of {result.rows_in}",
        )
        registered.append((name, version.version))
    if result.quarantine_files:
        name = f"{dataset}_quarantine"
        if not _exists(hub, name):
            create_dataset(
                hub,
                actor,
                derived=True,
                name=name,
                organization=organization,
                classification=QUARANTINE_CLASSIFICATION,
                discoverable=False,
                description=f"rows of {dataset} refused at ingestion, with their reasons "
                "(identifiers kept as shapes only); never granted",
            )
        files = [
            DatasetFile(f"quarantine/{dataset}/{f.key}", f.size, f.sha256, f.rows)
            for f in result.quarantine_files
        ]
        version = add_version(
            hub,
            actor,
            name,
            digest=f"{result.version}:quarantine",
            schema=[],
            row_count=result.rows_quarantined,
            files=files,
            note=", ".join(f"{count} x {reason}" for reason, count in result.reasons),
        )
        registered.append((name, version.version))
    return registered


def extract_dataset(hub: Hub, actor: Principal, project_id: int, dataset: str) -> ExtractReport:
    """Write ``dataset``'s current version for ``project_id`` with project-keyed pseudonyms."""
    from sqlalchemy import select

    from passerelle.hub.projects import project_facts
    from passerelle.ingest import extract_for_project

    with hub.transaction() as session:
        p = session.get(Project, project_id)
        d = session.execute(select(Dataset).where(Dataset.name == dataset)).scalar_one_or_none()
        missing = NotFoundError(
            f"no project {project_id} with a dataset {dataset!r} exists that you may see; "
            "check both"
        )
        if p is None or d is None:
            raise missing
        authorize(
            hub,
            session,
            actor,
            Action.GRANT_CREATE,
            f"project:{p.id}",
            {"project": p.id, "dataset": d.id, "extract": True},
            missing=missing,
            project=project_facts(session, p),
            dataset=dataset_facts(session, d),
        )
        v = session.execute(
            select(DatasetVersion).where(
                DatasetVersion.dataset_id == d.id, DatasetVersion.version == d.current_version
            )
        ).scalar_one_or_none()
        keys = [str(f["url"]) for f in (v.files if v else [])]
        classification = d.classification
        floor = dataset_floor(session, d)
        if not floor.admits(classification):  # an entry labelled below its rows (legacy)
            target = f"project:{p.id}"
            refuse_below_floor(
                hub, session, actor, "extract.run", target, d.name, floor, classification
            )
    prefix = extract_prefix(project_id, d.name)
    from passerelle.hub.placement import enforce_placement

    enforce_placement(
        hub, actor, "extract.run", f"project:{project_id}", [(d.name, classification)]
    )
    result = extract_for_project(
        keys,
        project_key=derive_project_key(hub.keys.key("project"), project_id),
        output_url=f"hub:{prefix}",
        output_store=hub.store_at(prefix, classification=classification),
        source_store=hub.store(),
    )
    with hub.transaction() as session:
        append_event(
            hub,
            session,
            actor=actor.name,
            action="extract.run",
            target=f"project:{project_id}",
            decision="allowed",
            details={
                "project": project_id,
                "dataset": d.id,
                "rows": result.rows,
                "files": len(result.files),
            },
        )
    return ExtractReport(
        project_id, dataset, prefix, len(result.files), result.rows, list(result.rekeyed_columns)
    )
