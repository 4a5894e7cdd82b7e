"""``LiveStore``: the hub's data store, routed by the current phase of a live move.

Every call asks ``resolve()`` for the current ``Route`` (cheap: the binding is
cached for a fraction of a second), so a phase change reaches every process
without a restart. Reads go to the route's read store and, when an object is not
found there, to its fallback. Writes go to every write store in order: the first
(the authoritative source) must succeed; a failure on a later one does not fail
the caller but is reported to ``on_debt`` so the move repairs it before
finishing. Once the first store has a write, ``on_written`` hears of it (key, operation,
size when known): that is how replicas on other clouds follow every write. Every key is
checked (``storage.keys``) before any store is asked.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Iterator, Mapping
from typing import IO

from passerelle.errors import ObjectNotFoundError, PasserelleError, UnsupportedOperationError
from passerelle.storage.base import ObjectReader, PutData, ResumableUpload, Store, StoreWrapper
from passerelle.storage.keys import check_key
from passerelle.storage.model import Capabilities, ObjectInfo, PutResult

__all__ = ["LiveRoute", "LiveStore"]

_SPOOL_IN_MEMORY = 16 * 1024 * 1024
_CHUNK = 8 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class LiveRoute:
    read: Store
    fallback: Store | None
    writes: tuple[Store, ...]


class LiveStore(StoreWrapper):
    """A store whose reads and writes follow the hub's storage binding."""

    def __init__(
        self,
        resolve: Callable[[], LiveRoute],
        on_debt: Callable[[str, str, str], None] | None = None,
        on_written: Callable[[str, str, int | None], None] | None = None,
    ) -> None:
        self._resolve = resolve
        self._on_debt = on_debt
        self._on_written = on_written

    @property
    def inner(self) -> Store:  # type: ignore[override]  # follows the phase

        return self._resolve().read

    @property
    def capabilities(self) -> Capabilities:
        """The read store's, but no resumable uploads, nor conditional metadata updates
        while writes go to more than one store."""
        r = self._resolve()
        conditional = r.read.capabilities.conditional_metadata and len(r.writes) == 1
        return dataclasses.replace(
            r.read.capabilities, resumable_upload=False, conditional_metadata=conditional
        )

    def head(self, key: str) -> ObjectInfo:
        check_key(key)
        r = self._resolve()
        try:
            return r.read.head(key)
        except ObjectNotFoundError:
            if r.fallback is None:
                raise
            return r.fallback.head(key)

    def get(
        self,
        key: str,
        *,
        start: int | None = None,
        end: int | None = None,
        if_match: str | None = None,
        chunk_size: int = _CHUNK,
    ) -> ObjectReader:
        check_key(key)
        r = self._resolve()
        try:
            return r.read.get(key, start=start, end=end, if_match=if_match, chunk_size=chunk_size)
        except ObjectNotFoundError:
            if r.fallback is None:
                raise
            return r.fallback.get(
                key, start=start, end=end, if_match=if_match, chunk_size=chunk_size
            )

    def _each_write(self, key: str, operation: str, call: Callable[[Store], object]) -> object:
        first, *others = self._resolve().writes
        result = call(first)
        if self._on_written is not None and key:
            size = result.size if isinstance(result, PutResult | ObjectInfo) else None
            self._on_written(key, operation, size)
        for store in others:
            try:
                call(store)
            except PasserelleError as exc:
                if self._on_debt is None:
                    raise
                self._on_debt(key, operation, str(exc))
        return result

    def put(
        self,
        key: str,
        data: PutData,
        *,
        size: int | None = None,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        part_size: int | None = None,
    ) -> PutResult:
        check_key(key)
        writes = self._resolve().writes
        if len(writes) == 1 or isinstance(data, bytes | bytearray | memoryview):
            payload = data
            return self._put_all(key, lambda: payload, size, content_type, metadata, part_size)
        with tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY) as spool:
            total = 0
            for chunk in data:
                spool.write(chunk)
                total += len(chunk)
            return self._put_all(
                key, lambda: _chunks(spool), total, content_type, metadata, part_size
            )

    def _put_all(
        self,
        key: str,
        source: Callable[[], PutData],
        size: int | None,
        content_type: str | None,
        metadata: Mapping[str, str] | None,
        part_size: int | None,
    ) -> PutResult:
        result = self._each_write(
            key,
            "put",
            lambda s: s.put(
                key,
                source(),
                size=size,
                content_type=content_type,
                metadata=metadata,
                part_size=part_size,
            ),
        )
        assert isinstance(result, PutResult)
        return result

    def delete(self, key: str) -> None:
        """Delete from every write store, and first from a read fallback that takes no
        writes (the store retired by ``finish``): otherwise the deleted object would be
        read back from it (a purged result, an erased dataset). Should the retired store
        refuse, nothing has changed yet and the caller's delete fails; retry it."""
        check_key(key)
        r = self._resolve()
        if r.fallback is not None and r.fallback.url not in {w.url for w in r.writes}:
            r.fallback.delete(key)
        self._each_write(key, "delete", lambda s: s.delete(key))

    def copy(self, src_key: str, dst_key: str) -> None:
        check_key(src_key)
        check_key(dst_key)
        self._each_write(dst_key, "copy", lambda s: s.copy(src_key, dst_key))

    def create_container(self) -> None:
        self._each_write("", "create", lambda s: s.create_container())

    def update_metadata(
        self,
        key: str,
        metadata: Mapping[str, str],
        *,
        content_type: str | None = None,
        storage_class: str | None = None,
        if_match: str | None = None,
    ) -> ObjectInfo:
        """Update every write store; ``if_match`` only while there is one (the etag is
        that store's: a mirror's copy has its own, which the caller never read)."""
        check_key(key)
        if if_match is not None and len(self._resolve().writes) > 1:
            raise UnsupportedOperationError(
                "the hub's store is mirrored to two stores during a live move, so a metadata "
                "update cannot be made conditional on both; run it again once the move "
                "has finished"
            )
        result = self._each_write(
            key,
            "metadata",
            lambda s: s.update_metadata(
                key,
                metadata,
                content_type=content_type,
                storage_class=storage_class,
                if_match=if_match,
            ),
        )
        assert isinstance(result, ObjectInfo)
        return result

    def start_upload(
        self,
        key: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
    ) -> ResumableUpload:
        check_key(key)
        raise UnsupportedOperationError(
            "the hub's live store does not take resumable uploads; use put"
        )

    def resume_upload(
        self, key: str, upload_id: str, *, storage_class: str | None = None
    ) -> ResumableUpload:
        check_key(key)
        raise UnsupportedOperationError(
            "the hub's live store does not take resumable uploads; use put"
        )


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    spool.seek(0)
    while chunk := spool.read(_CHUNK):
        yield chunk
