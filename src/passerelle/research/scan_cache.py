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

    def _path(self, source: TableSource, key: str, size: int) -> Path:
        columns = "\0".join(source.columns) if source.columns is not None else "*"
        label = f"{source.store.url}\0{key}\0{size}\0{len(source.columns or ())}\0{columns}"
        return self.folder / f"{hashlib.sha256(label.encode()).hexdigest()}.parquet"

    def fetch(self, source: TableSource, files: Mapping[str, int]) -> list[Path]:
        """Local paths of ``files`` (key -> size), copying those not cached yet."""
        paths = []
        for key, size in sorted(files.items()):
            path = self._path(source, key, size)
            with self._lock:
                guard = self._pending.setdefault(path.name, threading.Lock())
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
            paths.append(path)
        self._evict(keep={p.name for p in paths})
        return paths

    def _evict(self, keep: set[str]) -> None:
        with self._lock:
            copies = sorted(
                (p for p in self.folder.glob("*.parquet")), key=lambda p: p.stat().st_mtime
            )
            total = sum(p.stat().st_size for p in copies)
            for path in copies:
                if total <= self.max_bytes:
                    break
                if path.name in keep:
                    continue
                total -= path.stat().st_size
                path.unlink(missing_ok=True)
