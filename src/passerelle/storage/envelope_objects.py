"""An envelope as a store holds it: its metadata keys, their checks, plaintext facts.

Kept apart from :mod:`passerelle.storage.encrypting` (the store wrapper) so the rules
an auditor reads -- which metadata an envelope must carry, which keys callers may not
set, how a listing's sizes become plaintext sizes -- sit in one short module.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace

from passerelle.errors import TamperedDataError, UsageError
from passerelle.sovereignty.envelope import (
    FORMAT_VERSION,
    SEGMENT_SIZE,
    Header,
    is_envelope,
    parse_header,
    plaintext_size,
)
from passerelle.storage.metadata import validate_metadata
from passerelle.storage.model import ObjectInfo

__all__ = [
    "DEK_KEY",
    "ENVELOPE_KEY",
    "ENVELOPE_METADATA",
    "KEK_KEY",
    "checked_header",
    "envelope_metadata",
    "exactly",
    "plain_info",
    "plain_size",
    "user_metadata",
]

ENVELOPE_KEY, KEK_KEY, DEK_KEY = "passerelle_envelope", "passerelle_kek", "passerelle_dek"
ENVELOPE_METADATA = (ENVELOPE_KEY, KEK_KEY, DEK_KEY)
"""User-metadata keys the envelope owns (format version, KEK id, wrapped data key)."""


def user_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's metadata, portable and free of the envelope's own keys."""
    user = validate_metadata(metadata)
    taken = sorted(set(user) & set(ENVELOPE_METADATA))
    if taken:
        raise UsageError(f"Metadata key {taken[0]!r} belongs to the envelope; choose another name.")
    return user


def envelope_metadata(
    key: str, info: ObjectInfo, raw_header: bytes | None = None
) -> dict[str, str]:
    """The envelope's metadata of ``key``; :class:`TamperedDataError` if it is not all there."""
    metadata = info.metadata or {}
    found = {name: metadata[name] for name in ENVELOPE_METADATA if name in metadata}
    if len(found) == len(ENVELOPE_METADATA) and found[ENVELOPE_KEY] == str(FORMAT_VERSION):
        return found
    if found or (raw_header is not None and is_envelope(raw_header)):
        raise TamperedDataError(
            f"the envelope metadata of {key!r} is missing or altered (key id, wrapped key); "
            "restore it from a trusted copy"
        )
    raise TamperedDataError(
        f"{key!r} is not encrypted (no envelope metadata); "
        "it was written around the encrypting store, restore it or write it again through it"
    )


def checked_header(key: str, raw_header: bytes) -> Header:
    """:func:`parse_header`, its refusal naming ``key``."""
    try:
        return parse_header(raw_header)
    except TamperedDataError as exc:
        raise TamperedDataError(f"{key!r}: {exc}") from None


def plain_size(key: str, stored: int, segment_size: int = SEGMENT_SIZE) -> int:
    """:func:`plaintext_size`, its refusal naming ``key``."""
    try:
        return plaintext_size(stored, segment_size)
    except TamperedDataError as exc:
        raise TamperedDataError(f"{key!r}: {exc}") from None


def plain_info(key: str, info: ObjectInfo) -> ObjectInfo:
    """``info`` as a caller of the encrypting store sees it: plaintext size, own metadata.

    Computed from the stored size alone (v1's fixed overheads), so listings need no
    extra request.
    """
    metadata = info.metadata
    if metadata is not None:
        metadata = {k: v for k, v in metadata.items() if k not in ENVELOPE_METADATA}
    return replace(info, size=plain_size(key, info.size), metadata=metadata)


def exactly(
    data: Iterable[bytes], size: int | None, key: str
) -> Iterator[bytes | bytearray | memoryview]:
    """``data``'s chunks, refusing (before anything is visible) a total other than ``size``."""
    seen = 0
    for chunk in data:
        seen += memoryview(chunk).nbytes
        if size is not None and seen > size:
            break
        yield chunk
    if size is not None and seen != size:
        raise UsageError(
            f"{seen}{'+' if seen > size else ''} bytes were streamed for {key!r} "
            f"but size said {size}; nothing was written."
        )
