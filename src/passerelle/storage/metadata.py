"""User metadata: the portable rule, reading it back, and where local folders keep it.

Keys are ``[a-z0-9_]`` starting with a letter: Azure forbids hyphens, while Ceph
RGW returns underscores as hyphens, so keys are mapped back when read.  Local
folders keep content type and metadata in the ``user.passerelle`` extended
attribute of each file, because obstore's local backend has no attributes.

What every destination carries faithfully (:func:`validate_metadata`,
:func:`validate_content_type`, :func:`unportable`) is one rule for all backends,
checked before any request: printable ASCII only (a CR, LF or NUL reaches the
HTTP layer of obstore, which panics, or of a server, which splits the header),
no empty value (SeaweedFS drops it), no two keys that are one name on S3 and
Azure (case, ``-`` and ``_``), at most :data:`MAX_KEYS` keys and
:data:`MAX_BYTES` bytes (S3's 2 KB; more headers and Azurite, Ceph and SeaweedFS
store an object obstore cannot read back), a content type of at most
:data:`MAX_CONTENT_TYPE` characters.  Content-Encoding, -Disposition,
-Language and Cache-Control are not carried at all: a source object that has
one is refused by a copy rather than silently stripped of it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, cast

from passerelle.errors import UsageError

__all__ = [
    "MAX_BYTES",
    "MAX_CONTENT_TYPE",
    "MAX_KEYS",
    "UNCARRIED",
    "fold_keys",
    "from_attributes",
    "read_local",
    "to_attributes",
    "uncarried",
    "unportable",
    "validate_attributes",
    "validate_content_type",
    "validate_metadata",
    "write_local",
]

MAX_KEYS = 64
MAX_BYTES = 2048
"""User metadata limits: keys, and bytes of keys plus values (S3 allows 2 KB)."""
MAX_CONTENT_TYPE = 1024
UNCARRIED = ("Content-Disposition", "Content-Encoding", "Content-Language", "Cache-Control")
"""Standard attributes passerelle does not carry: a copy refuses an object that has one."""

_STANDARD_ATTRIBUTES = {"Content-Type", *UNCARRIED}
_XATTR = "user.passerelle"


def _printable(text: str) -> bool:
    return text.isascii() and all(32 <= ord(c) < 127 for c in text)


def _shown(text: str) -> str:
    """``text`` quoted for a one-line message (control characters escaped, cut short)."""
    return repr(text if len(text) <= 40 else text[:40] + "...")


def validate_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """User metadata every backend stores and returns exactly, canonical (lower-case) keys.

    Raises :class:`UsageError` naming the first key that breaks the rule (module
    docstring): nothing is written when it does.
    """
    if not metadata:
        return {}
    out: dict[str, str] = {}
    spelled: dict[str, str] = {}
    for key, value in metadata.items():
        if (
            not isinstance(key, str)
            or not key
            or not (key[0].isalpha() or key[0] == "_")
            or not all(c.isascii() and (c.isalnum() or c == "_") for c in key)
        ):
            raise UsageError(
                f"Metadata key {_shown(str(key))} is not portable; use letters, digits and "
                "underscores starting with a letter (Azure's rule)."
            )
        if not isinstance(value, str) or not _printable(value):
            raise UsageError(
                f"Metadata value for {key!r} must be printable ASCII; encode it first."
            )
        if not value:
            raise UsageError(
                f"Metadata value for {key!r} is empty, which SeaweedFS drops; "
                "remove the key or give it a value."
            )
        canonical = key.lower()
        if canonical in spelled:
            raise UsageError(
                f"Metadata keys {spelled[canonical]!r} and {key!r} are one name on S3 and "
                "Azure, which ignore case; keep one of them."
            )
        spelled[canonical] = key
        out[canonical] = value
    if len(out) > MAX_KEYS:
        raise UsageError(
            f"The object has {len(out)} metadata keys, more than the {MAX_KEYS} every store "
            "returns; merge some of them."
        )
    total = sum(len(k) + len(v) for k, v in out.items())
    if total > MAX_BYTES:
        raise UsageError(
            f"The object's metadata is {total} bytes, more than the {MAX_BYTES} S3 allows; "
            "shorten it."
        )
    return out


def validate_content_type(content_type: str | None) -> str | None:
    """``content_type`` if every backend sends and returns it exactly, else a UsageError."""
    if content_type is None:
        return None
    if not isinstance(content_type, str) or not _printable(content_type):
        raise UsageError(
            f"The content type {_shown(str(content_type))} must be printable ASCII "
            "(no CR, LF, tab, NUL or accent); fix it at the source."
        )
    if len(content_type) > MAX_CONTENT_TYPE:
        raise UsageError(
            f"The content type is {len(content_type)} characters long, more than "
            f"{MAX_CONTENT_TYPE}; shorten it."
        )
    return content_type


def validate_attributes(
    metadata: Mapping[str, str] | None, content_type: str | None
) -> dict[str, str]:
    """What every write checks before its first request: the user metadata
    (:func:`validate_metadata`, returned canonical), then the content type."""
    clean = validate_metadata(metadata)
    validate_content_type(content_type)
    return clean


def unportable(
    content_type: str | None,
    metadata: Mapping[str, str] | None,
    uncarried_attributes: Mapping[str, str] | None = None,
) -> str | None:
    """Why an object with these attributes cannot be copied exactly, in one sentence
    (``None`` when every destination can hold them as they are)."""
    for name, value in (uncarried_attributes or {}).items():
        return (
            f"Its {name} is {_shown(str(value))}, which passerelle does not carry to the "
            "destination; remove it at the source, or copy this object another way."
        )
    try:
        validate_content_type(content_type)
        validate_metadata(metadata)
    except UsageError as exc:
        return str(exc)
    return None


def to_attributes(metadata: Mapping[str, str], content_type: str | None) -> dict[str, str] | None:
    """obstore attributes for validated metadata and a content type (``None`` if empty)."""
    attributes = dict(metadata)
    if content_type:
        attributes["Content-Type"] = content_type
    return attributes or None


def from_attributes(attributes: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
    """(content type, canonical user metadata) from obstore attributes."""
    user = {str(k): str(v) for k, v in attributes.items() if k not in _STANDARD_ATTRIBUTES}
    return attributes.get("Content-Type"), fold_keys(user)


def fold_keys(raw: Mapping[str, str]) -> dict[str, str]:
    """User metadata as read, with canonical keys (lower case, ``-`` read as ``_``).

    Two keys that fold to one canonical name (``Foo`` and ``foo``, ``a-b`` and
    ``a_b``) are both kept as spelled, so that :func:`validate_metadata` refuses
    them instead of one value silently replacing the other.
    """
    folded: dict[str, list[str]] = {}
    for key in raw:
        folded.setdefault(key.lower().replace("-", "_"), []).append(key)
    metadata: dict[str, str] = {}
    for canonical, spellings in folded.items():
        if len(spellings) == 1:
            metadata[canonical] = raw[spellings[0]]
        else:
            metadata.update((k, raw[k]) for k in spellings)
    return metadata


def uncarried(attributes: Mapping[str, Any]) -> dict[str, str]:
    """The standard attributes an object has that passerelle does not carry (:data:`UNCARRIED`);
    names are matched without regard to case (HTTP headers)."""
    lower = {str(k).lower(): v for k, v in attributes.items()}
    return {name: str(lower[name.lower()]) for name in UNCARRIED if lower.get(name.lower())}


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
