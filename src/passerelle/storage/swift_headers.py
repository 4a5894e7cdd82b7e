"""Swift's names and headers, pure: segment names, metadata headers, object facts.

Segments of the object at ``path`` are named ``{path}/{upload_id}/{number:08d}`` in the
``_segments`` container and parse back from the right, whatever ``path`` holds.  User
metadata ``a_b`` is sent as ``X-Object-Meta-A-B`` (some proxies drop header names with
underscores) and read back with ``_``.  Etags are quoted everywhere, as obstore's are.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from passerelle.errors import UsageError
from passerelle.storage.metadata import fold_keys, uncarried
from passerelle.storage.model import ObjectInfo

__all__ = [
    "RESERVED_METADATA",
    "SEGMENTS_HEADER",
    "UPLOAD_ID",
    "info_from_headers",
    "is_manifest_entry",
    "object_headers",
    "parse_segment",
    "parse_stamp",
    "quoted_etag",
    "segment_name",
]

SEGMENTS_HEADER = "x-object-meta-passerelle-segments"
RESERVED_METADATA = frozenset({"passerelle_segments", "static_large_object"})
"""Metadata keys users may not set: ours (the segment set) and RGW's own SLO flag, which
RGW lists among an SLO's user metadata."""

_META = "x-object-meta-"
UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_NUMBER = re.compile(r"[0-9]{8}")
_EMPTY_MD5 = hashlib.md5(b"", usedforsecurity=False).hexdigest()


def segment_name(path: str, upload_id: str, number: int) -> str:
    """The segment-container name of part ``number`` of upload ``upload_id`` of ``path``."""
    return f"{path}/{upload_id}/{number:08d}"


def parse_segment(name: str) -> tuple[str, str, int] | None:
    """(object path, upload id, part number) of a segment name, or None if not ours."""
    head, _, number = name.rpartition("/")
    path, _, upload_id = head.rpartition("/")
    if not path or not UPLOAD_ID.fullmatch(upload_id) or not _NUMBER.fullmatch(number):
        return None
    return path, upload_id, int(number)


def quoted_etag(etag: str | None) -> str | None:
    """An etag in one form everywhere (quoted, as obstore reports them)."""
    if not etag:
        return None
    return etag if etag.startswith('"') else f'"{etag}"'


def object_headers(
    metadata: Mapping[str, str], content_type: str | None, upload_id: str | None = None
) -> dict[str, str]:
    """Request headers for validated user metadata (``a_b`` sent as ``A-B``: some proxies
    drop header names with underscores; read back, ``-`` becomes ``_`` again)."""
    reserved = RESERVED_METADATA.intersection(metadata)
    if reserved:
        raise UsageError(
            f"The metadata key {sorted(reserved)[0]!r} is reserved on Swift stores "
            "(it names the segments of large objects); rename it."
        )
    headers = {f"X-Object-Meta-{k.replace('_', '-')}": v for k, v in metadata.items()}
    if content_type:
        headers["Content-Type"] = content_type
    if upload_id is not None:
        headers[SEGMENTS_HEADER] = upload_id
    return headers


def info_from_headers(key: str, headers: Mapping[str, str]) -> ObjectInfo:
    """Object facts from a HEAD or GET answer (pure; reserved metadata left out)."""
    metadata = fold_keys(
        {
            name[len(_META) :]: value
            for name, value in headers.items()
            if name.lower().startswith(_META)
        }
    )
    for reserved in RESERVED_METADATA:
        metadata.pop(reserved, None)
    total = headers.get("content-length", "0")
    span = headers.get("content-range", "")
    if "/" in span and span.rpartition("/")[2].isdigit():
        total = span.rpartition("/")[2]
    modified = headers.get("last-modified")
    return ObjectInfo(
        key=key,
        size=int(total),
        etag=quoted_etag(headers.get("etag")),
        last_modified=parsedate_to_datetime(modified) if modified else None,
        content_type=headers.get("content-type"),
        metadata=metadata,
        uncarried=uncarried(headers),
    )


def parse_stamp(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.rstrip("Z"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def is_manifest_entry(entry: Mapping[str, Any]) -> bool:
    """Whether a container-listing entry may be a large object whose listed size is wrong.

    Ceph RGW lists an SLO with its manifest's size (or 0) and a DLO with 0 bytes, both
    with the MD5 of nothing; real Swift marks an SLO's content type with ``swift_bytes``.
    Such entries (and genuinely empty objects) are read again with a HEAD.
    """
    return entry.get("hash") == _EMPTY_MD5 or "swift_bytes=" in str(entry.get("content_type"))
