"""User metadata: the portable key rule, reading it back, and where local folders keep it.

Keys are ``[a-z0-9_]`` starting with a letter: Azure forbids hyphens, while Ceph
RGW returns underscores as hyphens, so keys are mapped back when read.  Local
folders keep content type and metadata in the ``user.passerelle`` extended
attribute of each file, because obstore's local backend has no attributes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, cast

from passerelle.errors import UsageError

__all__ = [
    "from_attributes",
    "read_local",
    "to_attributes",
    "validate_metadata",
    "write_local",
]

_STANDARD_ATTRIBUTES = {
    "Content-Type",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Cache-Control",
}
_XATTR = "user.passerelle"


def validate_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Check user metadata is portable to S3 and Azure (C#-identifier keys, ASCII values)."""
    if not metadata:
        return {}
    out: dict[str, str] = {}
    for key, value in metadata.items():
        if (
            not key
            or not (key[0].isalpha() or key[0] == "_")
            or not all(c.isascii() and (c.isalnum() or c == "_") for c in key)
        ):
            raise UsageError(
                f"Metadata key {key!r} is not portable; use letters, digits and underscores "
                "starting with a letter (Azure's rule)."
            )
        if not isinstance(value, str) or not value.isascii() or any(ord(c) < 32 for c in value):
            raise UsageError(
                f"Metadata value for {key!r} must be printable ASCII; encode it first."
            )
        out[key.lower()] = value
    return out


def to_attributes(metadata: Mapping[str, str], content_type: str | None) -> dict[str, str] | None:
    """obstore attributes for validated metadata and a content type (``None`` if empty)."""
    attributes = dict(metadata)
    if content_type:
        attributes["Content-Type"] = content_type
    return attributes or None


def from_attributes(attributes: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
    """(content type, canonical user metadata) from obstore attributes."""
    metadata = {
        str(k).lower().replace("-", "_"): str(v)
        for k, v in attributes.items()
        if k not in _STANDARD_ATTRIBUTES
    }
    return attributes.get("Content-Type"), metadata


def read_local(file: str | int) -> tuple[str | None, dict[str, str]]:
    """(content type, metadata) stored on a local file (a path or an open descriptor)."""
    try:
        stored = cast(dict[str, Any], json.loads(os.getxattr(file, _XATTR)))
    except (OSError, ValueError):
        return None, {}
    return stored.get("content_type"), dict(stored.get("metadata", {}))


def write_local(file: str | int, content_type: str | None, metadata: Mapping[str, str]) -> None:
    """Store content type and metadata on a local file or descriptor (raises ``OSError``)."""
    blob = json.dumps({"content_type": content_type, "metadata": dict(metadata)}).encode()
    os.setxattr(file, _XATTR, blob)
