"""Request and response bodies the library's views do not already describe.

Requests are validated strictly before any library call: unknown fields are
refused, strings are bounded (to what the database columns hold) and free of
control characters, roles, kinds and classifications are enums, dates are
ISO dates. The library still decides everything else (names, permissions,
states); responses reuse its view dataclasses.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from passerelle.hub.rules import Role
from passerelle.workspace.queries import QueryView

__all__ = [
    "MAX_INT",
    "AuditEventOut",
    "AuditPage",
    "Classification",
    "ColumnIn",
    "ColumnOut",
    "CutoverOut",
    "DatasetCreate",
    "DatasetFileIn",
    "DatasetUpdate",
    "ExtractCreate",
    "GrantCreate",
    "Health",
    "Ident",
    "IngestCreate",
    "Line",
    "ListPage",
    "MemberAdd",
    "MigrationStart",
    "OrganizationCreate",
    "OrganizationKind",
    "ProjectApproval",
    "ProjectCreate",
    "Prose",
    "QueryCreate",
    "QueryRun",
    "ReleaseCreate",
    "ReleaseDecision",
    "ReleasePolicySet",
    "ResultPage",
    "Title",
    "TokenCreate",
    "UserCreate",
    "UserUpdate",
    "VerifyOut",
    "VersionCreate",
    "WhoAmI",
    "audit_time",
]

MAX_INT = 2**31 - 1
"""Largest identifier or count the API accepts (the databases' INTEGER)."""

_PRINTABLE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_ONE_LINE = r"^[^\x00-\x1f\x7f]*$"


def _line(max_length: int, min_length: int = 0) -> StringConstraints:
    return StringConstraints(min_length=min_length, max_length=max_length, pattern=_ONE_LINE)


Ident = Annotated[str, _line(64, 1)]
"""A name used as an identifier (user, organization code, dataset name)."""
Line = Annotated[str, _line(200)]
"""One line of text (labels, display names, legal references)."""
Title = Annotated[str, _line(300, 1)]
ColumnName = Annotated[str, _line(128, 1)]
ColumnType = Annotated[str, _line(64, 1)]
Format = Annotated[str, _line(32, 1)]
Digest = Annotated[str, _line(80, 1)]
Url = Annotated[str, _line(2000, 1)]
Prose = Annotated[str, StringConstraints(max_length=10_000, pattern=_PRINTABLE)]
"""Free text; tabs and newlines allowed, other control characters refused."""
Count = Annotated[int, Field(ge=0, le=2**62)]
Covers = Annotated[
    str,
    _line(40, 0),
    Field(
        description="The period the data covers: START/END in ISO dates "
        "(2019-01-01/2023-12-31), START/ if it goes on, or unknown."
    ),
]

Classification = Literal[
    "health-identifying", "health-pseudonymized", "health-aggregate", "reference"
]
OrganizationKind = Literal["hospital", "insurer", "registry", "research-institute"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    hub: str
    database: str


class WhoAmI(BaseModel):
    id: int
    name: str
    roles: list[Role]


class OrganizationCreate(_Strict):
    code: Ident = Field(description="Short identifier, e.g. `CHU-LYON` or a FINESS number.")
    name: Line
    kind: OrganizationKind


class ColumnIn(_Strict):
    name: ColumnName
    type: ColumnType
    description: Prose = ""


class DatasetCreate(_Strict):
    name: Ident = Field(description="Lowercase letters, digits and `_` (a SQL table name).")
    organization: Ident = Field(description="The supplying organization's code.")
    classification: Classification
    description: Prose = ""
    schema_: list[ColumnIn] = Field(default=[], alias="schema", max_length=2000)
    format: Format = "parquet"
    discoverable: bool = True
    locations: list[Url] = Field(default=[], max_length=100)
    covers: Covers = "unknown"


class DatasetUpdate(_Strict):
    description: Prose | None = None
    discoverable: bool | None = None
    locations: list[Url] | None = Field(default=None, max_length=100)
    covers: Covers | None = None


class DatasetFileIn(_Strict):
    url: Url
    size: Count
    sha256: Digest
    rows: Count | None = None


class VersionCreate(_Strict):
    digest: Digest = Field(description="The version's content digest.")
    schema_: list[ColumnIn] = Field(alias="schema", max_length=2000)
    row_count: Count
    files: list[DatasetFileIn] = Field(default=[], max_length=10_000)
    note: Prose = ""


class ProjectCreate(_Strict):
    title: Title
    purpose: Prose
    legal_basis: Line = Field(description="E.g. `GDPR 9.2.j, public interest research`.")
    authorization_ref: Line = Field(description="E.g. a CNIL decision number.")
    start: date
    end: date
    principal_investigator: Ident | None = Field(
        default=None, description="A researcher's user name; the submitter when omitted."
    )
    members: list[Ident] = Field(default=[], max_length=200)


class MemberAdd(_Strict):
    user: Ident


class GrantCreate(_Strict):
    dataset: Ident
    expires_on: date | None = Field(
        default=None, description="At most the project's end date, which is the default."
    )
    columns: list[ColumnName] | None = Field(
        default=None, max_length=2000, description="A column subset; every column when omitted."
    )


class UserCreate(_Strict):
    name: Ident
    roles: list[Role] = Field(min_length=1, max_length=len(Role))
    display_name: Line = ""


class UserUpdate(_Strict):
    roles: list[Role] | None = Field(default=None, min_length=1, max_length=len(Role))
    active: bool | None = None


class TokenCreate(_Strict):
    user: Ident | None = Field(
        default=None, description="Whose token (admins only for others); the caller's when omitted."
    )
    label: Line = ""
    days: int | None = Field(default=None, ge=1, le=3650, description="Lifetime in days.")


T = TypeVar("T")


class ListPage(BaseModel, Generic[T]):
    """A page of a list the library returns whole (tokens, versions, grants)."""

    items: list[T]
    total: int
    limit: int
    offset: int


class AuditEventOut(BaseModel):
    """One event exactly as the log holds it: the trail renders whatever was written."""

    seq: int
    at: str = Field(description="UTC time, ISO 8601 with microseconds.")
    actor: str
    action: str
    target: str
    decision: str = Field(
        description="What was decided: `allowed`, `denied`, `error` (a query DuckDB could not "
        "run), or any other verdict the hub writes."
    )
    details: dict[str, Any] | list[Any] | str | int | float | bool | None = Field(
        description="The event's details (an object, unless the stored row was altered)."
    )
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    """Events in chain order; pass ``next_after`` as ``after`` for the next page."""

    items: list[AuditEventOut]
    limit: int
    after: int
    next_after: int | None = Field(description="The last event's `seq`, or null at the end.")


class VerifyOut(BaseModel):
    ok: bool
    events: int
    head_seq: int
    head_hash: str
    checkpoints: int
    first_bad_seq: int | None
    problem: str


class CheckpointOut(BaseModel):
    format: str = Field(description="The signed layout's version, `passerelle-audit-checkpoint/1`.")
    number: int = Field(description="Checkpoints are numbered 1, 2, 3... without gaps.")
    seq: int = Field(description="The audit event at the head when it was taken.")
    hash: str = Field(description="That event's hash.")
    at: str
    prev: str = Field(description="The digest of checkpoint `number - 1` (64 zeros for 1).")
    signature: str = Field(description="Ed25519 over the layout, checked with `public_key`.")


class AuditHeadOut(BaseModel):
    hub: str
    public_key: str = Field(description="The hub's Ed25519 checkpoint key (hex).")
    checkpoint: CheckpointOut | None = Field(description="The newest checkpoint, or null.")


class QueryCreate(_Strict):
    sql: Annotated[str, StringConstraints(min_length=1, max_length=100_000, pattern=_PRINTABLE)] = (
        Field(description="One SELECT over the project's granted datasets (DuckDB SQL).")
    )
    max_rows: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Rows kept in the result (more are cut); null: the hub's cap. More than "
        "the cap (`query_max_rows`) is refused with 400.",
    )
    timeout_s: float | None = Field(
        default=None,
        ge=1,
        le=300,
        allow_inf_nan=False,
        description="Seconds before the query's process is killed; null: the hub's cap "
        "(`query_max_seconds`), which it cannot exceed.",
    )
    memory_mb: int | None = Field(
        default=None,
        ge=16,
        le=1_048_576,
        description="Memory of the query in MB, enforced by the operating system; null: the "
        "hub's cap (`query_max_memory_mb`), which it cannot exceed.",
    )
    preview_rows: int = Field(
        default=100, ge=0, le=1000, description="Rows of the result returned in this answer."
    )


class ColumnOut(BaseModel):
    name: str
    type: str = Field(description="The Arrow type, e.g. `int64`, `string`, `date32[day]`.")


class QueryRun(BaseModel):
    """A query just run: its record and the first rows of its result."""

    query: QueryView
    columns: list[ColumnOut]
    rows: list[list[Any]] = Field(
        description="Rows as arrays in `columns` order; dates and times as ISO strings, "
        "decimals as strings, NaN and infinities as null, bytes as hex."
    )


class ResultPage(BaseModel):
    """A page of a stored query result."""

    query_id: int
    columns: list[ColumnOut]
    rows: list[list[Any]]
    total: int
    limit: int
    offset: int


class ReleaseCreate(_Strict):
    """No policy here: a release is checked with its project's policy, set by a steward."""

    groups: list[ColumnName] | None = Field(
        default=None,
        max_length=200,
        description="The grouping columns, read only when the hub cannot re-derive the query.",
    )
    statistics: list[ColumnName] | None = Field(
        default=None,
        max_length=200,
        description="The statistic columns, read only when the hub cannot re-derive the query.",
    )


class ProjectApproval(_Strict):
    """An approval may set the disclosure policy of the project's releases at once."""

    policy: Literal["sacro", "opensafely"] | None = Field(
        default=None, description="The disclosure policy (default: sacro)."
    )
    order_statistics: bool = Field(
        default=False, description="With a policy: min, max, median... leave without a checker."
    )


class ReleasePolicySet(_Strict):
    policy: Literal["sacro", "opensafely"] = Field(
        description="SACRO/ACRO rules, or OpenSAFELY's redact-and-round."
    )
    order_statistics: bool = Field(
        default=False,
        description="Whether min, max, median, quantiles... leave without an output checker.",
    )


class ReleaseDecision(_Strict):
    comment: Annotated[str, StringConstraints(max_length=2000, pattern=_PRINTABLE)] = ""


class IngestCreate(_Strict):
    dataset: Ident = Field(description="The catalog name (a SQL table name).")
    organization: Ident = Field(description="The supplying organization's code.")
    source_url: Url = Field(
        description="The source, read by the hub through its storage layer: `az://`, `s3://`, "
        "`file:///` (a folder for FHIR Bulk exports)."
    )
    schema_: Literal["pmsi_stays", "dcir_claims", "fhir_bulk"] = Field(
        alias="schema", description="A schema shipped with passerelle (no server paths)."
    )
    kind: Literal["csv", "parquet", "fhir-ndjson"] | None = Field(
        default=None, description="Must match the schema's kind when given."
    )
    classification: Classification = "health-pseudonymized"
    description: Prose = ""


class ExtractCreate(_Strict):
    dataset: Ident


class MigrationStart(_Strict):
    destination_url: Url = Field(description="The store the hub moves to, e.g. `s3://remote@b`.")
    require: list[Literal["hds", "secnumcloud", "eea", "eu-jurisdiction"]] = Field(
        default=[], max_length=4, description="Rules the destination's provider must meet."
    )


class ReplicaAdd(_Strict):
    name: Annotated[str, _line(63, 1)] = Field(description="A name for it, e.g. `ovh-gra`.")
    url: Url = Field(description="The replica's store URL, e.g. `s3://ovh@hdh-copy`.")
    require: list[Literal["hds", "secnumcloud", "eea", "eu-jurisdiction"]] = Field(
        default=[], max_length=4, description="Rules the replica's provider must meet."
    )
    adopt: bool = Field(default=False, description="Take over a store that already holds objects.")


class CutoverOut(BaseModel):
    """The evidence of a cutover or finish step."""

    ok: bool
    synced_objects: int
    checked: int
    verified_deep: int
    mirrored_writes_proven: int
    debts_repaired: int
    problems: list[str]


def audit_time(value: datetime | None) -> datetime | None:
    """A filter time in UTC (naive input is taken as UTC)."""
    from datetime import UTC

    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
