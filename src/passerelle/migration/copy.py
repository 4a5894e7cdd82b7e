"""Stream one object from a store to another, hashing the bytes as they pass.

The SHA-256 (and, unless the plan said ``--no-md5``, the MD5) is computed from
the bytes actually read from the source and written to the destination, so it
proves the copy end to end.  Both are stored on the destination object's
metadata (``passerelle_sha256`` and the ``md5chksum`` key rclone understands,
base64 as rclone writes it), with the source version copied
(``passerelle_source_etag``).  The proof is the SHA-256; the MD5 is for
third-party tools and costs about twice the SHA-256's CPU here.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from passerelle.errors import UsageError
from passerelle.storage.base import Store
from passerelle.storage.metadata import unportable
from passerelle.storage.model import ObjectInfo

__all__ = [
    "MD5_KEY",
    "SHA256_KEY",
    "CopyResult",
    "copy_metadata",
    "digest_metadata",
    "hash_object",
    "stream_copy",
]

SHA256_KEY = "passerelle_sha256"
MD5_KEY = "md5chksum"
SOURCE_ETAG_KEY = "passerelle_source_etag"


@dataclass(frozen=True, slots=True)
class CopyResult:
    key: str
    size: int
    sha256: str
    md5: str | None
    source_etag: str | None
    destination_etag: str | None
    parts: int


SMALL_OBJECT_LIMIT = 8 * 1024 * 1024
"""Objects up to this size are read whole and sent in one request, digests included."""


def copy_metadata(info: ObjectInfo) -> dict[str, str]:
    """The source's user metadata (minus stale proof) plus the source version copied.

    Raises :class:`UsageError` (one sentence, before anything is written) when the
    destination could not hold the object's attributes exactly, digests included
    (:func:`~passerelle.storage.metadata.unportable`): such an object fails alone.
    """
    metadata = {
        k: v
        for k, v in (info.metadata or {}).items()
        if k not in (SHA256_KEY, MD5_KEY, SOURCE_ETAG_KEY)
    }
    if info.etag:
        metadata[SOURCE_ETAG_KEY] = info.etag.strip('"')[:200]
    final = {**metadata, **digest_metadata("0" * 64, bytes(16))}
    if (why := unportable(info.content_type, final, info.uncarried)) is not None:
        raise UsageError(why)
    return metadata


def digest_metadata(sha256_hex: str, md5_digest: bytes | None) -> dict[str, str]:
    """The proof keys: SHA-256 (hex) and MD5 (base64, as rclone writes ``md5chksum``)."""
    if md5_digest is None:
        return {SHA256_KEY: sha256_hex}
    return {SHA256_KEY: sha256_hex, MD5_KEY: base64.b64encode(md5_digest).decode()}


def new_md5(wanted: bool) -> Any:
    """An MD5 hasher, or ``None`` when the plan chose no MD5."""
    return hashlib.md5(usedforsecurity=False) if wanted else None


def stream_copy(
    src: Store,
    key: str,
    dst: Store,
    dst_key: str | None = None,
    *,
    part_size: int | None = None,
    if_match: str | None = None,
    storage_metadata: Mapping[str, str] | None = None,
    storage_class: str | None = None,
    md5: bool = True,
) -> CopyResult:
    """Copy ``key`` from ``src`` to ``dst`` through this process, with digests.

    Content type and user metadata are carried over, plus ``storage_metadata``.
    Small objects go in one request with their digests; larger ones stream as a
    multipart upload (memory: about one part per part in flight) and get their
    digests stamped onto the metadata once the last byte has passed.  With
    ``if_match`` the read fails with :class:`PreconditionFailedError` if the
    source is no longer that version.  A ``storage_class`` other than the
    destination's default (``STANDARD``) is applied after the write.
    """
    target = dst_key or key
    reader = src.get(key, if_match=if_match, chunk_size=4 * 1024 * 1024)
    info = reader.info
    sha = hashlib.sha256()
    md5_hash = new_md5(md5)

    def chunks() -> Iterator[bytes]:
        for chunk in reader:
            sha.update(chunk)
            if md5_hash is not None:
                md5_hash.update(chunk)
            yield chunk

    metadata = copy_metadata(info)
    metadata.update(storage_metadata or {})
    special_class = storage_class if storage_class and storage_class.upper() != "STANDARD" else None

    def with_digests() -> dict[str, str]:
        md5_digest = md5_hash.digest() if md5_hash is not None else None
        return {**metadata, **digest_metadata(sha.hexdigest(), md5_digest)}

    if info.size <= min(part_size or SMALL_OBJECT_LIMIT, SMALL_OBJECT_LIMIT):
        data = b"".join(chunks())
        result = dst.put(target, data, content_type=info.content_type, metadata=with_digests())
        dest_etag = result.etag
        stamp = special_class is not None  # only to apply a non-default storage class
    else:
        result = dst.put(
            target,
            chunks(),
            size=info.size,
            content_type=info.content_type,
            metadata=metadata,
            part_size=part_size,
        )
        stamp = True  # the digests are known only now
    if stamp:
        dest_etag = dst.update_metadata(
            target, with_digests(), content_type=info.content_type, storage_class=special_class
        ).etag
    return CopyResult(
        key=key,
        size=result.size,
        sha256=sha.hexdigest(),
        md5=md5_hash.hexdigest() if md5_hash is not None else None,
        source_etag=info.etag,
        destination_etag=dest_etag,
        parts=result.parts,
    )


def hash_object(store: Store, key: str) -> tuple[int, str]:
    """Re-read an object and return (size, SHA-256 hex) of its bytes."""
    sha = hashlib.sha256()
    size = 0
    for chunk in store.get(key):
        sha.update(chunk)
        size += len(chunk)
    return size, sha.hexdigest()
