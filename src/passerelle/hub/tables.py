"""The hub's database tables (SQLAlchemy 2 declarative models).

The schema itself is created and evolved by Alembic (``hub/migrations``); these
classes are how the services read and write it. Times are stored as UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AuditEvent",
    "Base",
    "Dataset",
    "DatasetVersion",
    "Grant",
    "IngestRun",
    "MirrorDebt",
    "Organization",
    "Project",
    "ProjectMember",
    "QueryRecord",
    "ReleaseCell",
    "ReleaseRequest",
    "RemoteDataset",
    "Replica",
    "ReplicaChange",
    "StorageBinding",
    "Token",
    "User",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite stores naive)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Token(Base):
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("tokens.id", name="fk_tokens_parent_id_tokens"), index=True
    )


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    classification: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(32))
    discoverable: Mapped[bool] = mapped_column(Boolean)
    schema: Mapped[list[Any]]
    row_count: Mapped[int | None]
    locations: Mapped[list[Any]]
    current_version: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    covers_from: Mapped[date | None]  # the period the data covers (hub.coverage)
    covers_until: Mapped[date | None]


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version"),
        UniqueConstraint("dataset_id", "digest"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    version: Mapped[int]
    digest: Mapped[str] = mapped_column(String(80))
    schema: Mapped[list[Any]]
    row_count: Mapped[int]
    files: Mapped[list[Any]]
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    purpose: Mapped[str] = mapped_column(Text)
    principal_investigator: Mapped[int] = mapped_column(ForeignKey("users.id"))
    legal_basis: Mapped[str] = mapped_column(String(200))
    authorization_ref: Mapped[str] = mapped_column(String(200))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    submitted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    disclosure_policy: Mapped[str] = mapped_column(
        String(32), default="sacro", server_default="sacro"
    )
    order_statistics: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ProjectMember(Base):
    __tablename__ = "project_members"
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    added_at: Mapped[datetime]


class Grant(Base):
    __tablename__ = "grants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    columns: Mapped[list[Any] | None]
    granted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[datetime]
    expires_on: Mapped[date] = mapped_column(Date)
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class AuditEvent(Base):
    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class StorageBinding(Base):
    """Which cloud the hub's data store is on, and the phase of a live move (one row)."""

    __tablename__ = "storage_binding"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phase: Mapped[str] = mapped_column(String(16))
    source_url: Mapped[str] = mapped_column(Text)
    destination_url: Mapped[str | None] = mapped_column(Text)
    journal: Mapped[str | None] = mapped_column(Text)
    generation: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]
    retired_url: Mapped[str | None] = mapped_column(Text)


class MirrorDebt(Base):
    """A write that reached the source but not the destination during mirroring."""

    __tablename__ = "mirror_debt"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(Text)
    operation: Mapped[str] = mapped_column(String(16))
    error: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]
    repaired_at: Mapped[datetime | None]


class QueryRecord(Base):
    """One researcher query run in a project's workspace, and where its result is."""

    __tablename__ = "queries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    sql: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    datasets: Mapped[list[Any]]
    rows: Mapped[int]
    truncated: Mapped[bool] = mapped_column(Boolean)
    result_key: Mapped[str] = mapped_column(Text)
    duration_s: Mapped[float]
    created_at: Mapped[datetime]
    result_sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")
    purged_at: Mapped[datetime | None]


class ReleaseRequest(Base):
    """A request to take a query result out of the hub, with its disclosure check."""

    __tablename__ = "releases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16))
    policy: Mapped[str] = mapped_column(String(32))
    report: Mapped[dict[str, Any]]
    output_key: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class ReleaseCell(Base):
    """What the hub keeps about the persons behind one released cell, for differencing.

    ``cell`` is the row index in the release (-1: the release's whole population),
    ``label`` its group values, ``persons`` its distinct persons; ``sketch`` holds
    keyed person hashes (see ``passerelle.research.disclosure.differencing``),
    encrypted with a hub key and bound to this row: never pseudonyms, and
    unreadable (unlinkable) from a copy of the database alone.
    """

    __tablename__ = "release_cells"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    cell: Mapped[int] = mapped_column(Integer)
    label: Mapped[dict[str, Any]]
    persons: Mapped[int] = mapped_column(Integer, index=True)
    sketch: Mapped[str] = mapped_column(Text)


class IngestRun(Base):
    """One ingestion of a source: its counts and the reasons its refused rows were
    quarantined (``reasons``: ``[reason, rows]`` pairs, a reason is ``code:column``)."""

    __tablename__ = "ingest_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(64), index=True)
    organization: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(64))
    rows_in: Mapped[int]
    rows_accepted: Mapped[int]
    rows_quarantined: Mapped[int]
    reasons: Mapped[list[Any]]
    datasets: Mapped[list[Any]]
    reused: Mapped[bool] = mapped_column(Boolean)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]


class Replica(Base):
    """A continuous copy of the hub's store on another cloud (``hub replica add``);
    ``last_pass`` and ``last_verify`` hold the latest incremental pass and proof."""

    __tablename__ = "replicas"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    last_pass_at: Mapped[datetime | None]
    last_pass: Mapped[dict[str, Any] | None]
    last_verify_at: Mapped[datetime | None]
    last_verify: Mapped[dict[str, Any] | None]


class ReplicaChange(Base):
    """A write to the hub's store that a replica has not received yet (the outbox the
    follower drains); several rows for one key are settled by one copy of its current
    state."""

    __tablename__ = "replica_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    replica_id: Mapped[int] = mapped_column(ForeignKey("replicas.id"), index=True)
    key: Mapped[str] = mapped_column(Text)
    operation: Mapped[str] = mapped_column(String(16))
    size: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime]


class RemoteDataset(Base):
    """A dataset of a partner hub's catalog (``catalog import``): found here, never
    granted nor queried here. ``iri_sha256`` keys it (IRIs are long, indexes are not);
    ``source`` is the steward's name for the partner, each import replacing its rows."""

    __tablename__ = "remote_datasets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    catalog_iri: Mapped[str] = mapped_column(Text)
    catalog_title: Mapped[str] = mapped_column(Text)
    iri: Mapped[str] = mapped_column(Text)
    iri_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    identifier: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    publisher: Mapped[str] = mapped_column(Text)
    themes: Mapped[list[Any]]
    keywords: Mapped[list[Any]]
    access_rights: Mapped[str] = mapped_column(Text)
    landing_page: Mapped[str] = mapped_column(Text)
    columns: Mapped[list[Any]]
    distributions: Mapped[int]
    file_sha256: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime]
    imported_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
