"""A dataset's versions: each with its schema, row count, files and their digests
(ingestion adds them; the same content digest again is the same version), read by who
may read the entry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from passerelle.errors import UsageError, not_found
from passerelle.hub.audit import authorize
from passerelle.hub.catalog import check_file, parse_schema, schema_json
from passerelle.hub.dataset_facts import dataset_facts, dataset_named, refuse_below_floor
from passerelle.hub.rules import Action, Principal
from passerelle.hub.tables import Dataset, DatasetVersion, User
from passerelle.hub.views import Column, DatasetFile, DatasetVersionView
from passerelle.sovereignty.floor import catalog_roles, floor_of

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub

__all__ = ["add_version", "list_versions"]


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
        check_file(f.url)
    if row_count < 0:
        raise UsageError("a version cannot have a negative row count")
    with hub.transaction() as session:
        d = dataset_named(session, name)
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
        floor = floor_of(catalog_roles(schema_json(columns)))
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
            schema=schema_json(columns),
            row_count=row_count,
            files=[f.__dict__ for f in file_list],
            note=note,
            created_by=actor.user_id,
            created_at=hub.now(),
        )
        session.add(v)
        d.current_version, d.row_count, d.schema = number, row_count, schema_json(columns)
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
        d = dataset_named(session, name)
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
