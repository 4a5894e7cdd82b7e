"""Granted datasets read through the storage layer.

Whatever the cloud, the bytes come through our store (retries, fault
injection, encryption wrappers): :func:`copy_to_folder` and
:func:`write_local_copy` make the local files the sandbox's child process
reads (a column-subset grant is copied as its granted columns only, fetched by
ranged reads), and :func:`open_dataset` gives a :class:`pyarrow.dataset.Dataset`
whose filesystem is a read-only adapter turning every read into a ranged
:meth:`Store.get`.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passerelle.errors import ObjectNotFoundError, PasserelleError, UsageError

if TYPE_CHECKING:
    import pyarrow.dataset as pads  # type: ignore[import-untyped]
    import pyarrow.fs as pafs  # type: ignore[import-untyped]

    from passerelle.storage.base import Store

__all__ = [
    "StoreReadFile",
    "TableSource",
    "copy_to_folder",
    "open_dataset",
    "parquet_keys",
    "store_filesystem",
    "write_local_copy",
]


@dataclass(frozen=True, slots=True)
class TableSource:
    """One granted dataset: the name researchers query, and where its Parquet lives.

    ``prefix`` is a folder of Parquet files (searched recursively) or one
    ``.parquet`` key inside ``store``; ``columns`` optionally limits the visible
    columns (a column-subset grant).
    """

    store: Store
    prefix: str
    columns: tuple[str, ...] | None = None


class StoreReadFile(io.RawIOBase):
    """A seekable, read-only file over one object, each read a ranged ``get``."""

    def __init__(
        self, store: Store, key: str, size: int, errors: list[BaseException] | None = None
    ) -> None:
        super().__init__()
        self._store = store
        self._errors = errors
        self._key = key
        self._size = size
        self._pos = 0
        self._lock = threading.Lock()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def size(self) -> int:
        return self._size

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        with self._lock:
            start = self._pos
            end = self._size if size is None or size < 0 else min(self._size, start + size)
            if end <= start:
                return b""
            try:
                data = self._store.get(self._key, start=start, end=end).read()
            except PasserelleError as exc:  # kept so the caller sees it, not pyarrow's wrapper
                if self._errors is not None:
                    self._errors.append(exc)
                raise
            self._pos = start + len(data)
            return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


@functools.cache
def _handler_class() -> type:
    import pyarrow.fs as pafs

    class StoreFileSystemHandler(pafs.FileSystemHandler):  # type: ignore[misc]
        """Read-only pyarrow filesystem over a :class:`Store`; writes are refused."""

        def __init__(
            self,
            store: Store,
            sizes: Mapping[str, int] | None = None,
            errors: list[BaseException] | None = None,
        ) -> None:
            self.store = store
            self.sizes = dict(sizes or {})
            self.errors = errors

        def __eq__(self, other: object) -> bool:
            return isinstance(other, StoreFileSystemHandler) and other.store is self.store

        def __ne__(self, other: object) -> bool:
            return not self == other

        def get_type_name(self) -> str:
            return "passerelle-store"

        def normalize_path(self, path: str) -> str:
            return path.strip("/")

        def _info(self, path: str) -> pafs.FileInfo:
            key = path.strip("/")
            if key in self.sizes:
                return pafs.FileInfo(path, pafs.FileType.File, size=self.sizes[key])
            try:
                info = self.store.head(key)
            except ObjectNotFoundError:
                if key == "" or any(True for _ in self.store.list(key + "/", page_size=1)):
                    return pafs.FileInfo(path, pafs.FileType.Directory)
                return pafs.FileInfo(path, pafs.FileType.NotFound)
            return pafs.FileInfo(path, pafs.FileType.File, size=info.size)

        def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
            return [self._info(p) for p in paths]

        def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
            base = selector.base_dir.strip("/")
            prefix = base + "/" if base else ""
            infos = []
            for obj in self.store.list(prefix):
                rest = obj.key[len(prefix) :]
                if not selector.recursive and "/" in rest:
                    continue
                infos.append(pafs.FileInfo(obj.key, pafs.FileType.File, size=obj.size))
            if not infos and not selector.allow_not_found and base:
                raise FileNotFoundError(base)
            return infos

        def open_input_file(self, path: str) -> Any:
            import pyarrow as pa

            key = path.strip("/")
            size = self.sizes[key] if key in self.sizes else self.store.head(key).size
            return pa.PythonFile(StoreReadFile(self.store, key, size, self.errors), mode="r")

        def open_input_stream(self, path: str) -> Any:
            return self.open_input_file(path)

        def _refuse(self, *args: Any, **kwargs: Any) -> Any:
            raise PermissionError("granted datasets are read-only")

        create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _refuse
        delete_file = move = copy_file = open_output_stream = open_append_stream = _refuse

    return StoreFileSystemHandler


def store_filesystem(
    store: Store,
    sizes: Mapping[str, int] | None = None,
    errors: list[BaseException] | None = None,
) -> pafs.FileSystem:
    """A read-only :class:`pyarrow.fs.PyFileSystem` whose reads go through ``store``.

    ``sizes`` (key -> size, from a listing) spares a HEAD per file; storage errors
    met while reading are appended to ``errors`` so the caller can raise them as
    they are (pyarrow and DuckDB wrap them into their own exceptions).
    """
    import pyarrow.fs as pafs

    return pafs.PyFileSystem(_handler_class()(store, sizes, errors))


def parquet_keys(source: TableSource) -> dict[str, int]:
    """The Parquet files of ``source`` (one key, or every non-empty file below), key -> size."""
    prefix = source.prefix.strip("/")
    if prefix.endswith(".parquet"):
        files = {prefix: source.store.head(prefix).size}
    else:
        below = prefix + "/" if prefix else ""
        files = {
            o.key: o.size
            for o in sorted(source.store.list(below), key=lambda o: o.key)
            if o.key.endswith(".parquet") and o.size
        }
    if not files:
        raise UsageError(
            f"No Parquet file was found at {source.store.url}/{prefix}; "
            "check the dataset's storage location."
        )
    return files


def write_local_copy(source: TableSource, key: str, size: int, path: Path) -> None:
    """Write the object ``key`` of ``source`` to the local file ``path``: the whole file, or,
    for a column-subset grant, a Parquet file of the granted columns only (read by ranged
    requests, so the other columns never leave the store)."""
    if source.columns is None:
        with path.open("wb") as out:
            for chunk in source.store.get(key):
                out.write(chunk)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    handle = pa.PythonFile(StoreReadFile(source.store, key, size), mode="r")
    reader = pq.ParquetFile(handle)
    missing = [c for c in source.columns if c not in reader.schema_arrow.names]
    if missing:
        raise UsageError(
            f"The granted columns {', '.join(missing)} are no column of {source.store.url}/"
            f"{source.prefix.strip('/')}; fix the grant."
        )
    schema = pa.schema([reader.schema_arrow.field(c) for c in source.columns])
    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
        for group in range(reader.num_row_groups):
            writer.write_table(reader.read_row_group(group, columns=list(source.columns)))


def copy_to_folder(
    source: TableSource, folder: Path, files: Mapping[str, int] | None = None
) -> list[Path]:
    """Stream the Parquet files of ``source`` (``files``: key -> size, else listed) from its
    store into ``folder`` (a private per-query directory), four at a time, granted columns
    only; return the local paths, in key order."""
    from concurrent.futures import ThreadPoolExecutor

    listed = dict(files or parquet_keys(source))

    def fetch(item: tuple[int, str]) -> Path:
        path = folder / f"{item[0]:06d}.parquet"
        write_local_copy(source, item[1], listed[item[1]], path)
        return path

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(fetch, enumerate(listed)))


def open_dataset(
    source: TableSource,
    errors: list[BaseException] | None = None,
    files: Mapping[str, int] | None = None,
) -> pads.Dataset:
    """The Parquet files of ``source`` as one pyarrow dataset (no bytes read beyond footers);
    storage errors met by later reads are appended to ``errors``."""
    import pyarrow.dataset as pads

    prefix = source.prefix.strip("/")
    files = files or parquet_keys(source)
    filesystem = store_filesystem(source.store, files, errors)
    dataset = pads.dataset(list(files), format="parquet", filesystem=filesystem)
    if source.columns is None:
        return dataset
    missing = [c for c in source.columns if c not in dataset.schema.names]
    if missing:
        raise UsageError(
            f"The granted columns {', '.join(missing)} are no column of {source.store.url}/"
            f"{prefix}; fix the grant."
        )
    import pyarrow as pa

    schema = pa.schema([dataset.schema.field(c) for c in source.columns])
    return pads.dataset(list(files), schema=schema, format="parquet", filesystem=filesystem)
