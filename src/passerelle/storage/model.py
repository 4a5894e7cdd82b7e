"""Plain data the storage layer passes around: object facts, capabilities, limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "Capabilities",
    "IncompleteUpload",
    "Listing",
    "ObjectInfo",
    "PartLimits",
    "PutResult",
    "UploadedPart",
]

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a store knows about one object.

    ``metadata`` is ``None`` when the call that produced this info does not return
    user metadata (most listings); an empty mapping means "known to have none".
    ``uncarried`` holds the standard attributes the object has that passerelle does
    not carry (Content-Encoding, ...: :data:`~passerelle.storage.metadata.UNCARRIED`).
    """

    key: str
    size: int
    etag: str | None = None
    last_modified: datetime | None = None
    version: str | None = None
    content_type: str | None = None
    metadata: Mapping[str, str] | None = None
    storage_class: str | None = None
    uncarried: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    """One level of a folder-like listing: sub-prefixes and the objects directly in it."""

    prefixes: tuple[str, ...]
    objects: tuple[ObjectInfo, ...]


@dataclass(frozen=True, slots=True)
class PutResult:
    """What a store returns after a successful write."""

    key: str
    size: int
    etag: str | None = None
    version: str | None = None
    parts: int = 1


@dataclass(frozen=True, slots=True)
class IncompleteUpload:
    """An upload begun and neither completed nor aborted (never visible as an object)."""

    key: str
    upload_id: str
    initiated: datetime | None = None


@dataclass(frozen=True, slots=True)
class UploadedPart:
    """One part the destination holds for a resumable upload (``etag``: its receipt).

    ``sha256`` is the hex digest of the part's bytes when sending it computed one
    anyway (S3 signs the payload over plain HTTP), so callers need not hash twice.
    """

    number: int
    size: int
    etag: str
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Optional abilities of a backend; callers ask these, never the backend's type.

    ``list_details``: ``list(details=True)`` also returns storage class (access
    tier), content type and user metadata (Azure).  ``server_side_copy``,
    ``conditional_get`` (``if_match`` reads), ``multipart_upload``,
    ``create_container`` and ``persistent`` (outlives the process) are as named.
    ``resumable_upload``: :meth:`~passerelle.storage.base.Store.start_upload` and
    ``resume_upload`` give a multipart upload whose parts outlive the process.
    ``conditional_metadata``: ``update_metadata(if_match=etag)`` changes nothing and
    raises :class:`~passerelle.errors.PreconditionFailedError` when the object changed.
    """

    server_side_copy: bool = False
    user_metadata: bool = True
    list_metadata: bool = False
    list_details: bool = False
    conditional_get: bool = False
    create_only_put: bool = False
    create_container: bool = False
    multipart_upload: bool = False
    persistent: bool = True
    resumable_upload: bool = False
    conditional_metadata: bool = False

    def as_dict(self) -> dict[str, bool]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class PartLimits:
    """Multipart limits of a destination (bytes and counts).

    ``max_single_put`` is the largest object sent in one request; anything larger
    goes as a multipart upload of at most ``max_parts`` parts.
    """

    min_part_size: int = 5 * MiB
    max_part_size: int = 5 * GiB
    max_parts: int = 10_000
    max_object_size: int = 5 * TiB
    max_single_put: int = 5 * GiB
    extra: Mapping[str, int] = field(default_factory=dict)
