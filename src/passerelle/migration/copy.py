"""Stream one object from a store to another, hashing the bytes as they pass.

The SHA-256 and MD5 are computed from the bytes actually read from the source
and written to the destination, so they prove the copy end to end.  They are
stored on the destination object's metadata (``passerelle_sha256`` and the
``md5chksum`` key rclone understands, base64 as rclone writes it).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from passerelle.errors import UnsupportedOperationError
from passerelle.storage.base import Store

__all__ = ["MD5_KEY", "SHA256_KEY", "CopyResult", "hash_object", "stream_copy"]

SHA256_KEY = "passerelle_sha256"
MD5_KEY = "md5chksum"


@dataclass(frozen=True, slots=True)
class CopyResult:
    key: str
    size: int
    sha256: str
    md5: str
    source_etag: str | None
    destination_etag: str | None
    parts: int


def stream_copy(
    src: Store,
    key: str,
    dst: Store,
    dst_key: str | None = None,
    *,
    part_size: int | None = None,
    if_match: str | None = None,
) -> CopyResult:
    """Copy ``key`` from ``src`` to ``dst`` through this process, with digests.

    Content type and user metadata are carried over; memory stays near one
    part per in-flight part whatever the object's size.  With ``if_match`` the
    read fails with :class:`PreconditionFailedError` if the source changed.
    """
    reader = src.get(key, if_match=if_match)
    info = reader.info
    sha = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)

    def chunks() -> Iterator[bytes]:
        for chunk in reader:
            sha.update(chunk)
            md5.update(chunk)
            yield chunk

    metadata = {k: v for k, v in (info.metadata or {}).items() if k not in (SHA256_KEY, MD5_KEY)}
    # The digests are only known at the end of the stream; small objects are read
    # first so the digests travel with the single PUT.
    if info.size <= (part_size or dst.limits.max_single_put) and info.size <= 64 * 1024 * 1024:
        data = b"".join(chunks())
        metadata[SHA256_KEY] = sha.hexdigest()
        metadata[MD5_KEY] = base64.b64encode(md5.digest()).decode()
        result = dst.put(dst_key or key, data, content_type=info.content_type, metadata=metadata)
    else:
        raise UnsupportedOperationError(
            f"{key} is over 64 MiB; copy large objects with `passerelle migrate`."
        )
    return CopyResult(
        key=key,
        size=result.size,
        sha256=sha.hexdigest(),
        md5=md5.hexdigest(),
        source_etag=info.etag,
        destination_etag=result.etag,
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
