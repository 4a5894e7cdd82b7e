"""Plain read-only views the hub services return (and the CLI and API render)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

__all__ = [
    "Column",
    "DatasetFile",
    "DatasetVersionView",
    "DatasetView",
    "GrantView",
    "IssuedToken",
    "OrganizationView",
    "Page",
    "ProjectView",
    "RemoteDatasetView",
    "RemoteImportView",
    "SkippedMemberView",
    "TokenView",
    "UserView",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class OrganizationView:
    id: int
    code: str
    name: str
    kind: str
    created_at: datetime


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str = ""


@dataclass(frozen=True)
class DatasetFile:
    url: str
    size: int
    sha256: str
    rows: int | None = None


@dataclass(frozen=True)
class DatasetView:
    id: int
    name: str
    description: str
    organization: str
    classification: str
    format: str
    discoverable: bool
    schema: list[Column]
    row_count: int | None
    locations: list[str]
    current_version: int
    created_at: datetime
    covers_from: date | None = None
    covers_until: date | None = None


@dataclass(frozen=True)
class DatasetVersionView:
    dataset: str
    version: int
    digest: str
    row_count: int
    schema: list[Column]
    files: list[DatasetFile]
    note: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class ProjectView:
    id: int
    title: str
    purpose: str
    principal_investigator: str
    legal_basis: str
    authorization_ref: str
    start_date: date
    end_date: date
    status: str
    active: bool
    submitted_by: str
    decided_by: str | None
    members: list[str]
    created_at: datetime


@dataclass(frozen=True)
class GrantView:
    id: int
    project_id: int
    dataset: str
    columns: list[str] | None
    granted_by: str
    granted_at: datetime
    expires_on: date
    revoked: bool
    active: bool


@dataclass(frozen=True)
class UserView:
    id: int
    name: str
    display_name: str
    roles: list[str]
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class TokenView:
    """A token (never its secret); ``parent`` is the token it was created with, if any."""

    id: int
    user: str
    label: str
    created_at: datetime
    expires_at: datetime
    revoked: bool
    parent: int | None = None


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``secret`` is shown once and only its hash is kept."""

    token: TokenView
    secret: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteDatasetView:
    """A partner hub's dataset (``catalog import``): read-only, found here, requested
    from ``source``; never granted nor queried here. Texts are the partner's own."""

    id: int
    source: str
    catalog: str
    iri: str
    identifier: str
    title: str
    description: str
    publisher: str
    themes: list[str]
    keywords: list[str]
    access_rights: str
    landing_page: str
    columns: list[Column]
    distributions: int
    imported_at: datetime
    remote: bool = True


@dataclass(frozen=True)
class SkippedMemberView:
    """A member of a partner's catalog not imported: its IRI (as shown) and why."""

    member: str
    reason: str


@dataclass(frozen=True)
class RemoteImportView:
    """What one import did: ``replaced`` entries of ``source`` gave way to ``imported``;
    ``skipped`` lists the members left out, each with its reason."""

    source: str
    catalog: str
    imported: int
    replaced: int
    sha256: str
    skipped: list[SkippedMemberView] = field(default_factory=list)
