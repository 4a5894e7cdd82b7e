"""Local copies of granted Parquet files, kept between queries.

The sandbox's child process reads local files only, so every query needs each
granted file copied from the store. A ``ScanCache`` keeps those copies in one
private folder (mode 0700) across queries, keyed by the store's URL, the key,
the size and the granted columns (a column-subset grant is copied as those
columns only), so researchers re-querying the same dataset version pay the copy
once.
Dataset versions are written once and never changed in place, so a copy stays
valid; a different size (a rewritten file) makes a new copy. The cache is
bounded: least recently used copies go first once ``max_bytes`` is passed.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from passerelle.research.parquet_source import write_local_copy

if TYPE_CHECKING:
    from passerelle.research.parquet_source import TableSource

__all__ = ["ScanCache"]


class ScanCache:
    """A bounded folder of local Parquet copies shared by the queries of one process."""

    def __init__(self, folder: Path, *, max_bytes: int = 4 * 1024**3) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        self.folder = folder
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._pending: dict[str, threading.Lock] = {}
        self._in_use: Counter[str] = Counter()  # copies a query holds: never evicted

    def _path(self, source: TableSource, key: str, size: int) -> Path:
        columns = "\0".join(source.columns) if source.columns is not None else "*"
        label = f"{source.store.url}\0{key}\0{size}\0{len(source.columns or ())}\0{columns}"
        return self.folder / f"{hashlib.sha256(label.encode()).hexdigest()}.parquet"

    def fetch(
        self, source: TableSource, files: Mapping[str, int], *, hold: bool = False
    ) -> list[Path]:
        """Local paths of ``files`` (key -> size), copying those not cached yet.

        With ``hold``, the copies are kept from eviction (by the queries of this
        process) until :meth:`release`; a query holds them while its child reads.
        """
        paths: list[Path] = []
        try:
            for key, size in sorted(files.items()):
                paths.append(self._fetch_one(source, key, size))
        except BaseException:
            self.release(paths)
            raise
        self._evict(keep={p.name for p in paths})
        if not hold:
            self.release(paths)
        return paths

    def release(self, paths: list[Path]) -> None:
        """Let copies a :meth:`fetch` with ``hold`` returned be evicted again."""
        with self._lock:
            self._in_use.subtract(p.name for p in paths)
            self._in_use += Counter()  # drop the zero counts

    def _fetch_one(self, source: TableSource, key: str, size: int) -> Path:
        path = self._path(source, key, size)
        with self._lock:
            self._in_use[path.name] += 1  # before looking, so no eviction races the copy
            guard = self._pending.setdefault(path.name, threading.Lock())
        try:
            with guard:  # one copy per file even when queries race for it
                if path.exists() and (source.columns is not None or path.stat().st_size == size):
                    os.utime(path)
                else:
                    partial = path.with_suffix(f".{threading.get_ident()}.partial")
                    try:
                        write_local_copy(source, key, size, partial)
                    except BaseException:
                        partial.unlink(missing_ok=True)
                        raise
                    os.replace(partial, path)
        except BaseException:
            self.release([path])
            raise
        return path

    def _evict(self, keep: set[str]) -> None:
        with self._lock:
            copies = sorted(
                (p for p in self.folder.glob("*.parquet")), key=lambda p: p.stat().st_mtime
            )
            total = sum(p.stat().st_size for p in copies)
            for path in copies:
                if total <= self.max_bytes:
                    break
                if path.name in keep or path.name in self._in_use:
                    continue
                total -= path.stat().st_size
                path.unlink(missing_ok=True)
