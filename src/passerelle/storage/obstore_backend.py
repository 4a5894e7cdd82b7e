"""The real backends: Azure Blob, S3, local folders and memory, all through obstore.

One class serves every scheme; what differs between them is data (capabilities,
limits, how user metadata is kept) chosen in :mod:`passerelle.storage.opener`.
Local folders keep content type and user metadata in an extended attribute
(``user.passerelle``) because obstore's local backend has no attributes.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from passerelle.errors import (
    ContainerNotFoundError,
    ObjectNotFoundError,
    PasserelleError,
    PreconditionFailedError,
    TerminalError,
    UnsupportedOperationError,
    UsageError,
)
from passerelle.storage.base import ObjectReader, PutData, ResumableUpload
from passerelle.storage.keys import check_key, check_prefix
from passerelle.storage.metadata import (
    fold_keys,
    from_attributes,
    read_local,
    to_attributes,
    uncarried,
    validate_attributes,
    write_local,
)
from passerelle.storage.model import (
    Capabilities,
    IncompleteUpload,
    Listing,
    ObjectInfo,
    PartLimits,
    PutResult,
)
from passerelle.storage.multipart import DEFAULT_PART_SIZE, choose_part_size, part_count
from passerelle.storage.translate import translate

__all__ = ["BackendSpec", "ObstoreStore"]

T = TypeVar("T")

_LOCAL_TEMP = re.compile(r"#\d+$")


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """What distinguishes one backend from another, as data."""

    scheme: str
    capabilities: Capabilities
    limits: PartLimits
    metadata_in_xattr: bool = False
    local_root: str | None = None


class ObstoreStore:
    """A :class:`~passerelle.storage.base.Store` over one obstore store."""

    def __init__(
        self,
        url: str,
        make_store: Callable[[], Any],
        spec: BackendSpec,
        *,
        prefix: str = "",
        provider: str | None = None,
        admin: Any = None,
        part_concurrency: int = 2,
    ) -> None:
        self._url = url
        self._make_store = make_store
        self._raw: Any = None
        self._spec = spec
        self._prefix = prefix.strip("/")
        self._provider = provider
        self._admin = admin
        self._part_concurrency = part_concurrency

    # -- properties -------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._url

    @property
    def capabilities(self) -> Capabilities:
        return self._spec.capabilities

    @property
    def limits(self) -> PartLimits:
        return self._spec.limits

    @property
    def provider(self) -> str | None:
        return self._provider

    def __repr__(self) -> str:
        return f"ObstoreStore({self._url!r})"

    # -- helpers ----------------------------------------------------------------
    @property
    def _store(self) -> Any:
        if self._raw is None:
            root = self._spec.local_root
            if root is not None and not os.path.isdir(root):
                raise ContainerNotFoundError(
                    f"The folder {root} does not exist; create it "
                    f"(`passerelle stores create {self._url}`) or fix the path."
                )
            self._raw = self._make_store()
        return self._raw

    def _path(self, key: str) -> str:
        check_key(key)
        if self._spec.local_root is not None and _LOCAL_TEMP.search(key):
            raise UsageError(
                f"The key {key!r} ends in '#' and digits, which local folders reserve for "
                "uploads in progress; rename the object."
            )
        return f"{self._prefix}/{key}" if self._prefix else key

    def _list_prefix(self, prefix: str) -> str | None:
        prefix = check_prefix(prefix)
        joined = "/".join(p for p in (self._prefix, prefix) if p)
        return joined or None

    def _relative(self, path: str) -> str:
        if self._prefix and path.startswith(self._prefix + "/"):
            return path[len(self._prefix) + 1 :]
        return path

    def _call(self, op: str, key: str | None, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (PasserelleError, _SourceFailed):
            raise
        except Exception as exc:  # obstore/OS errors become passerelle errors
            raise translate(exc, url=self._url, op=op, key=key) from exc
        except BaseException as exc:  # a Rust panic in obstore is no Exception: never a hang
            if type(exc).__name__ != "PanicException":
                raise
            where = f"{self._url}/{key}" if key else self._url
            raise TerminalError(
                f"obstore failed on {op} of {where} ({str(exc).splitlines()[0][:120]}); "
                "the request was not sent, report it with the object's attributes."
            ) from exc

    def _info(
        self, meta: Mapping[str, Any], attributes: Mapping[str, Any] | None = None
    ) -> ObjectInfo:
        content_type = None
        metadata: dict[str, str] | None = None
        others: dict[str, str] | None = None
        if attributes is not None:
            content_type, metadata = from_attributes(attributes)
            others = uncarried(attributes)
        return ObjectInfo(
            key=self._relative(meta["path"]),
            size=int(meta["size"]),
            etag=meta.get("e_tag"),
            last_modified=meta.get("last_modified"),
            version=meta.get("version"),
            content_type=content_type,
            metadata=metadata,
            uncarried=others,
        )

    def _xattr_path(self, path: str) -> str:
        assert self._spec.local_root is not None
        return os.path.join(self._spec.local_root, *path.split("/"))

    def _attributes(self, path: str, result_attributes: Mapping[str, Any]) -> dict[str, Any]:
        if not self._spec.metadata_in_xattr:
            return dict(result_attributes)
        content_type, metadata = read_local(self._xattr_path(path))
        return dict(to_attributes(metadata, content_type) or {})

    # -- the contract -----------------------------------------------------------
    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 1000,
        details: bool = False,
        start_after: str = "",
    ) -> Iterator[ObjectInfo]:
        import obstore

        list_prefix = self._list_prefix(prefix)
        offset = None
        if start_after:
            check_key(start_after)
            offset = f"{self._prefix}/{start_after}" if self._prefix else start_after
        if details and self._spec.capabilities.list_details and self._admin is not None:
            for info in self._list_details(prefix, list_prefix):
                if not start_after or info.key > start_after:
                    yield info
            return
        stream = self._call(
            "list",
            prefix or None,
            lambda: obstore.list(self._store, list_prefix, offset=offset, chunk_size=page_size),
        )
        while True:
            page = self._call("list", prefix or None, lambda: next(stream, None))
            if page is None:
                return
            for meta in page:
                if offset is None or meta["path"] > offset:  # Azure's listing ignores it
                    yield self._info(meta)

    def _list_details(self, prefix: str, list_prefix: str | None) -> Iterator[ObjectInfo]:
        sdk_prefix = f"{list_prefix}/" if list_prefix else None
        entries = self._call(
            "list", prefix or None, lambda: iter(self._admin.list_details(sdk_prefix))
        )
        while True:
            entry = self._call("list", prefix or None, lambda: next(entries, None))
            if entry is None:
                return
            yield ObjectInfo(
                key=self._relative(entry["path"]),
                size=int(entry["size"]),
                etag=entry["e_tag"],
                last_modified=entry["last_modified"],
                content_type=entry["content_type"],
                metadata=fold_keys(entry["metadata"]),
                storage_class=entry["tier"],
            )

    def list_dir(self, prefix: str = "") -> Listing:
        import obstore

        list_prefix = self._list_prefix(prefix)
        result = self._call(
            "list", prefix or None, lambda: obstore.list_with_delimiter(self._store, list_prefix)
        )
        prefixes = tuple(sorted(self._relative(p) for p in result["common_prefixes"]))
        objects = tuple(sorted((self._info(m) for m in result["objects"]), key=lambda o: o.key))
        return Listing(prefixes=prefixes, objects=objects)

    def head(self, key: str) -> ObjectInfo:
        import obstore

        path = self._path(key)
        result = self._call(
            "read", key, lambda: obstore.get(self._store, path, options={"head": True})
        )
        return self._info(result.meta, self._attributes(path, result.attributes))

    def get(
        self,
        key: str,
        *,
        start: int | None = None,
        end: int | None = None,
        if_match: str | None = None,
        chunk_size: int = 8 * 1024 * 1024,
    ) -> ObjectReader:
        import obstore

        path = self._path(key)
        options: dict[str, Any] = {}
        if start is not None or end is not None:
            first = start or 0
            if end is None:
                options["range"] = {"offset": first}
            elif end <= first:
                raise UsageError(f"The range [{first}, {end}) of {key!r} is empty or reversed.")
            else:
                options["range"] = (first, end)
        if if_match is not None:
            options["if_match"] = if_match
        result = self._call(
            "read", key, lambda: obstore.get(self._store, path, options=cast(Any, options))
        )
        info = self._info(result.meta, self._attributes(path, result.attributes))
        lo, hi = result.range
        stream = result.stream(min_chunk_size=chunk_size)

        def chunks() -> Iterator[bytes]:
            while True:
                chunk = self._call("read", key, lambda: next(stream, None))
                if chunk is None:
                    return
                yield chunk

        return ObjectReader(info, chunks(), hi - lo, label=f"{self._url}/{key}")

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
        import obstore

        path = self._path(key)
        clean = validate_attributes(metadata, content_type)
        attributes = None if self._spec.metadata_in_xattr else to_attributes(clean, content_type)
        limits = self._spec.limits
        preferred = part_size or DEFAULT_PART_SIZE
        if isinstance(data, bytes | bytearray | memoryview):
            size = len(data)
        part = choose_part_size(size or 0, limits, preferred)
        single_limit = min(part, limits.max_single_put)
        if isinstance(data, bytes | bytearray | memoryview):
            payload: Any = data
        elif size is not None and size <= single_limit:
            payload = b"".join(data)
        else:
            return self._put_stream(key, path, data, size, part, attributes, content_type, clean)
        if size is not None and len(payload) != size:
            raise UsageError(f"{len(payload)} bytes were given for {key!r} but size said {size}.")
        multipart = len(payload) > single_limit

        def do_put() -> Any:
            return obstore.put(
                self._store,
                path,
                payload,
                attributes=attributes,
                use_multipart=multipart,
                chunk_size=part,
                max_concurrency=self._part_concurrency,
            )

        result = self._call("write", key, do_put)
        if self._spec.metadata_in_xattr:
            self._write_xattr(path, key, content_type, clean)
        return PutResult(
            key=key,
            size=len(payload),
            etag=result.get("e_tag"),
            version=result.get("version"),
            parts=part_count(len(payload), part) if multipart else 1,
        )

    def _put_stream(
        self,
        key: str,
        path: str,
        chunks: Iterable[bytes],
        size: int | None,
        part: int,
        attributes: dict[str, str] | None,
        content_type: str | None,
        clean: dict[str, str],
    ) -> PutResult:
        """Stream chunks into a multipart upload that is aborted on any error.

        The source is pulled here, between writes, never from inside obstore's
        runtime: an obstore read stream may feed the upload.
        """
        import obstore

        written = 0
        source_error: BaseException | None = None

        def do_stream() -> None:
            nonlocal written, source_error
            iterator = iter(chunks)
            with obstore.open_writer(
                self._store,
                path,
                attributes=attributes,
                buffer_size=part,
                max_concurrency=self._part_concurrency,
            ) as writer:
                while True:
                    try:
                        chunk = next(iterator, None)
                    except BaseException as exc:  # the caller's source failed: abort
                        source_error = exc
                        raise _SourceFailed from exc
                    if chunk is None:
                        break
                    writer.write(chunk)
                    written += len(chunk)
                if size is not None and written != size:
                    raise UsageError(
                        f"{written} bytes were streamed for {key!r} but size said {size}; "
                        "nothing was written."
                    )

        try:
            self._call("write", key, do_stream)
        except _SourceFailed:
            assert source_error is not None
            raise source_error from None
        if self._spec.metadata_in_xattr:
            self._write_xattr(path, key, content_type, clean)
        info = self.head(key)
        return PutResult(
            key=key,
            size=written,
            etag=info.etag,
            version=info.version,
            parts=part_count(written, part) if written > part else 1,
        )

    def _write_xattr(
        self,
        path: str,
        key: str,
        content_type: str | None,
        metadata: dict[str, str],
        *,
        always: bool = False,
    ) -> None:
        if not content_type and not metadata and not always:
            return
        file = self._xattr_path(path)
        self._call("write", key, lambda: write_local(file, content_type, metadata))

    def delete(self, key: str) -> None:
        import obstore

        path = self._path(key)
        with contextlib.suppress(ObjectNotFoundError):
            self._call("delete", key, lambda: obstore.delete(self._store, path))

    def copy(self, src_key: str, dst_key: str) -> None:
        import obstore

        if not self.capabilities.server_side_copy:
            raise UnsupportedOperationError(f"The store {self._url} cannot copy server-side.")
        src, dst = self._path(src_key), self._path(dst_key)
        self._call("copy", src_key, lambda: obstore.copy(self._store, src, dst, overwrite=True))
        if self._spec.metadata_in_xattr:
            content_type, metadata = read_local(self._xattr_path(src))
            self._write_xattr(dst, dst_key, content_type, metadata)

    def create_container(self) -> None:
        if self._spec.local_root is not None:
            self._call(
                "create", None, lambda: os.makedirs(self._spec.local_root or "", exist_ok=True)
            )
            return
        if self._admin is None:
            return
        self._call("create", None, self._admin.create_container)

    def update_metadata(
        self,
        key: str,
        metadata: Mapping[str, str],
        *,
        content_type: str | None = None,
        storage_class: str | None = None,
        if_match: str | None = None,
    ) -> ObjectInfo:
        """Replace the user metadata (and content type) of an existing object.

        With ``if_match`` nothing changes unless the object still has that etag: S3
        copies the object onto itself only from that version, Azure sets metadata
        with If-Match, a local folder sets the attribute on the file it opened and
        checked, memory rewrites the object in update mode.
        """
        path = self._path(key)
        clean = validate_attributes(metadata, content_type)
        if self._spec.metadata_in_xattr:
            self._call(
                "write", key, lambda: self._update_local(key, path, clean, content_type, if_match)
            )
        elif self._admin is not None:
            current = self.head(key)
            if if_match is not None and current.etag != if_match:
                raise self._stale(key, if_match)
            kind = content_type or current.content_type
            try:
                self._call(
                    "write",
                    key,
                    lambda: self._admin.update_metadata(
                        path, clean, kind, storage_class, size=current.size, if_match=if_match
                    ),
                )
            except PreconditionFailedError:
                raise self._stale(key, if_match) from None
        else:
            self._update_memory(key, path, clean, content_type, if_match)
        return self.head(key)

    def _stale(self, key: str, if_match: str | None) -> PreconditionFailedError:
        return PreconditionFailedError(
            f"{self._url}/{key} was replaced since its etag {if_match} was read; "
            "its metadata was left as it is, read it again and retry."
        )

    def _update_local(
        self,
        key: str,
        path: str,
        metadata: dict[str, str],
        content_type: str | None,
        if_match: str | None,
    ) -> None:
        """Set the attribute through one open file: a file renamed over the key after
        the check keeps its own metadata (the attribute lands on the replaced file)."""
        fd = os.open(self._xattr_path(path), os.O_RDONLY)
        try:
            if if_match is not None and if_match.strip('"') != _local_etag(os.fstat(fd)):
                raise self._stale(key, if_match)
            kind = content_type or read_local(fd)[0]
            write_local(fd, kind, metadata)
        finally:
            os.close(fd)

    def _update_memory(
        self,
        key: str,
        path: str,
        metadata: dict[str, str],
        content_type: str | None,
        if_match: str | None,
    ) -> None:
        """Rewrite the object in update mode, so a concurrent put is never undone."""
        for _attempt in range(8):
            try:
                self._rewrite_memory(key, path, metadata, content_type, if_match)
                return
            except PreconditionFailedError:
                if if_match is not None:
                    raise self._stale(key, if_match) from None
        raise PreconditionFailedError(
            f"{self._url}/{key} kept being replaced while its metadata was updated; try again."
        )

    def _rewrite_memory(
        self,
        key: str,
        path: str,
        metadata: dict[str, str],
        content_type: str | None,
        if_match: str | None,
    ) -> None:
        import obstore

        options: Any = {} if if_match is None else {"if_match": if_match}
        result = self._call("read", key, lambda: obstore.get(self._store, path, options=options))
        data = result.bytes()
        attributes = to_attributes(metadata, content_type or result.attributes.get("Content-Type"))
        mode: Any = {"e_tag": result.meta["e_tag"]}
        self._call(
            "write",
            key,
            lambda: obstore.put(self._store, path, data, attributes=attributes, mode=mode),
        )

    def start_upload(
        self,
        key: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
    ) -> ResumableUpload:
        """Begin a multipart upload whose id and parts can be found again after a crash."""
        path = self._path(key)
        clean = validate_attributes(metadata, content_type)
        admin = self._resumable_admin()
        return cast(
            ResumableUpload,
            admin.start_upload(
                key,
                path,
                self._call,
                content_type=content_type,
                metadata=clean,
                storage_class=storage_class,
            ),
        )

    def resume_upload(
        self, key: str, upload_id: str, *, storage_class: str | None = None
    ) -> ResumableUpload:
        """The upload ``upload_id`` of ``key``, begun earlier (no request is sent)."""
        path = self._path(key)
        admin = self._resumable_admin()
        return cast(
            ResumableUpload,
            admin.resume_upload(key, path, upload_id, self._call, storage_class=storage_class),
        )

    def _resumable_admin(self) -> Any:
        if not self.capabilities.resumable_upload or self._admin is None:
            raise UnsupportedOperationError(
                f"The store {self._url} has no resumable uploads; copies there restart."
            )
        return self._admin

    def abort_uploads(
        self, key: str, *, older_than: datetime | None = None, keep: str | None = None
    ) -> int:
        """Remove incomplete uploads of ``key`` left behind by a crashed writer."""
        path = self._path(key)
        if self._spec.metadata_in_xattr:
            target = self._xattr_path(path)
            folder, name = os.path.split(target)
            removed = 0
            try:
                entries = os.listdir(folder)
            except FileNotFoundError:
                return 0
            for entry in entries:
                if entry.startswith(name + "#") and entry[len(name) + 1 :].isdigit():
                    os.remove(os.path.join(folder, entry))
                    removed += 1
            return removed
        if self._admin is not None and hasattr(self._admin, "abort_uploads"):
            return int(
                self._call("abort", key, lambda: self._admin.abort_uploads(path, older_than, keep))
            )
        return 0

    def list_uploads(self, prefix: str = "") -> Iterator[IncompleteUpload]:
        """Incomplete uploads under ``prefix`` (one listing, not one per key)."""
        list_prefix = self._list_prefix(prefix)
        if self._spec.metadata_in_xattr:
            yield from self._local_uploads(list_prefix)
            return
        if self._admin is None or not hasattr(self._admin, "list_uploads"):
            return
        sdk_prefix = f"{list_prefix}/" if list_prefix else ""
        found = self._call(
            "list", prefix or None, lambda: list(self._admin.list_uploads(sdk_prefix))
        )
        for path, upload_id, initiated in found:
            if not self._prefix or path.startswith(self._prefix + "/"):
                yield IncompleteUpload(self._relative(path), upload_id, initiated)

    def _local_uploads(self, list_prefix: str | None) -> Iterator[IncompleteUpload]:
        root = self._spec.local_root
        assert root is not None
        top = os.path.join(root, *list_prefix.split("/")) if list_prefix else root
        for folder, _dirs, files in os.walk(top):
            for name in files:
                match = _LOCAL_TEMP.search(name)
                if match is None:
                    continue
                full = os.path.join(folder, name)
                try:
                    stamp = datetime.fromtimestamp(os.stat(full).st_mtime, UTC)
                except FileNotFoundError:  # completed or aborted meanwhile
                    continue
                key = os.path.relpath(full, root).replace(os.sep, "/")
                yield IncompleteUpload(key[: match.start() - len(name)], match.group()[1:], stamp)


def _local_etag(stat: os.stat_result) -> str:
    """The etag obstore gives a local file (inode, mtime in microseconds, size; hex)."""
    return f"{stat.st_ino:x}-{stat.st_mtime_ns // 1000:x}-{stat.st_size:x}"


class _SourceFailed(Exception):
    """Raised inside an upload to abort it when the caller's data source failed."""
