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

A dataset stored as ciphertext (read through an
:class:`~passerelle.storage.encrypting.EncryptingStore`) never has plaintext at
rest here: the folder keeps the object's raw envelope (and its metadata, the
wrapped data key) as the store holds it, and each query decrypts it, through the
same custody, into anonymous memory (``memfd_create``) that the child reads as
``/proc/<pid>/fd/<n>`` and that is freed by :meth:`ScanCache.release`.  A
destroyed KEK therefore also makes the cached copies unreadable (crypto-erase
reaches the cache).  Measured against the alternatives in docs/benchmarks.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passerelle.errors import KeyUnavailableError, TamperedDataError
from passerelle.research.parquet_source import TableSource, write_local_copy
from passerelle.storage.base import ObjectReader, StoreWrapper
from passerelle.storage.model import ObjectInfo

if TYPE_CHECKING:
    from passerelle.storage.base import Store
    from passerelle.storage.encrypting import EncryptingStore

__all__ = ["ScanCache", "encrypted_view"]

_COPIES = ("*.parquet", "*.envelope")


def encrypted_view(store: Store, prefix: str) -> tuple[bool, EncryptingStore | None]:
    """Whether ``prefix`` of ``store`` is ciphertext at rest, and the
    :class:`EncryptingStore` whose raw (inner) bytes the cache may keep.

    ``store`` itself, or the view a hub's classified store names for ``prefix``
    (its ``encrypting_view``); a wrapper around either is ciphertext with no raw
    access (``(True, None)``: plaintext in memory only, nothing on disk)."""
    from passerelle.storage.encrypting import EncryptingStore

    layer: Any = store
    while layer is not None:
        if isinstance(layer, EncryptingStore):
            return True, layer if layer is store else None
        view = getattr(layer, "encrypting_view", None)
        if callable(view):
            found = view(prefix)
            if found is not None:
                raw = layer is store and isinstance(found, EncryptingStore)
                return True, found if raw else None
        layer = getattr(layer, "inner", None)
    return False, None


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
        self._memory: dict[str, int] = {}  # /proc path -> memfd of decrypted plaintext

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
        The plaintext of a ciphertext dataset is in memory only, always until
        :meth:`release` (which frees it), whatever ``hold`` says.
        """
        encrypted, view = encrypted_view(source.store, source.prefix)
        used: set[str] = set()  # the envelope copies decrypted, kept from this eviction

        def one(item: tuple[str, int]) -> Path:
            if not encrypted:
                return self._fetch_one(source, *item)
            return self._plaintext_in_memory(source, view, *item, used)

        paths = self._each(one, sorted(files.items()))
        self._evict(keep={p.name for p in paths} | used)
        if not hold:
            self.release([p for p in paths if str(p) not in self._memory])
        return paths

    def _each(
        self, one: Callable[[tuple[str, int]], Path], items: list[tuple[str, int]]
    ) -> list[Path]:
        """``one`` of every item, four at a time (file and memory writes overlap); on any
        failure, what succeeded is released and the first error raised."""
        if len(items) <= 1:
            return [one(item) for item in items]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(4, len(items))) as pool:
            futures = [pool.submit(one, item) for item in items]
        paths: list[Path] = []
        error: BaseException | None = None
        for future in futures:
            try:
                paths.append(future.result())
            except BaseException as exc:  # re-raised below, once the others are released
                error = error or exc
        if error is not None:
            self.release(paths)
            raise error
        return paths

    def release(self, paths: list[Path]) -> None:
        """Let copies a :meth:`fetch` with ``hold`` returned be evicted again; free the
        in-memory plaintext among them."""
        with self._lock:
            for path in paths:
                fd = self._memory.pop(str(path), None)
                if fd is not None:
                    os.close(fd)  # the plaintext is gone with its last reference
                else:
                    self._in_use[path.name] -= 1
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

    # -- ciphertext datasets ---------------------------------------------------------------

    def _plaintext_in_memory(
        self,
        source: TableSource,
        view: EncryptingStore | None,
        key: str,
        size: int,
        used: set[str],
    ) -> Path:
        """Decrypt ``key`` (granted columns only) into a new memfd; its ``/proc`` path."""
        fd = os.memfd_create("passerelle-scan", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        path = Path(f"/proc/{os.getpid()}/fd/{fd}")
        try:
            if view is None:  # no raw access: decrypt from the store, every query
                write_local_copy(source, key, size, path)
            else:
                used.add(self._decrypt_cached(source, view, key, size, path))
            _seal(fd)
        except BaseException:
            os.close(fd)
            raise
        with self._lock:
            self._memory[str(path)] = fd
        return path

    def _decrypt_cached(
        self, source: TableSource, view: EncryptingStore, key: str, size: int, out: Path
    ) -> str:
        """Decrypt the cached envelope of ``key`` into ``out``; the envelope copy's name."""
        label = f"envelope\0{view.url}\0{key}\0{size}"
        copy = self.folder / f"{hashlib.sha256(label.encode()).hexdigest()}.envelope"
        with self._lock:
            self._in_use[copy.name] += 1
            guard = self._pending.setdefault(copy.name, threading.Lock())
        try:
            with guard:
                fresh = self._ensure_envelope(view, key, copy, refresh=False)
            try:
                # A stale copy is retried once, quietly: a rotation re-wrapped its data key.
                self._decrypt_into(source, view, key, size, copy, out, quiet=not fresh)
            except (KeyUnavailableError, TamperedDataError):
                if fresh:
                    raise
                with guard:
                    self._ensure_envelope(view, key, copy, refresh=True)
                self._decrypt_into(source, view, key, size, copy, out, quiet=False)
        finally:
            with self._lock:
                self._in_use[copy.name] -= 1
        return copy.name

    def _ensure_envelope(self, view: EncryptingStore, key: str, copy: Path, refresh: bool) -> bool:
        """Keep the raw envelope of ``key`` and its metadata at ``copy``; True if fetched now."""
        meta = copy.with_name(copy.name + ".json")
        if not refresh and copy.exists() and meta.exists():
            os.utime(copy)
            return False
        raw = view.inner
        info = raw.head(key)
        partial = copy.with_suffix(f".{threading.get_ident()}.partial")
        partial_meta = partial.with_suffix(".json-partial")
        try:
            with partial.open("wb") as out:
                for chunk in raw.get(key):
                    out.write(chunk)
            facts = {
                "size": info.size,
                "etag": info.etag,
                "content_type": info.content_type,
                "metadata": dict(info.metadata or {}),
            }
            partial_meta.write_text(json.dumps(facts), encoding="utf-8")
            os.replace(partial_meta, meta)  # each file whole: a reader sees old or new
            os.replace(partial, copy)
        except BaseException:
            partial.unlink(missing_ok=True)
            partial_meta.unlink(missing_ok=True)
            raise
        return True

    def _decrypt_into(
        self,
        source: TableSource,
        view: EncryptingStore,
        key: str,
        size: int,
        copy: Path,
        out: Path,
        *,
        quiet: bool,
    ) -> None:
        stored = json.loads(copy.with_name(copy.name + ".json").read_text(encoding="utf-8"))
        info = ObjectInfo(
            key,
            int(stored["size"]),
            stored.get("etag"),
            content_type=stored.get("content_type"),
            metadata=dict(stored.get("metadata") or {}),
        )
        local = _over(view, _LocalEnvelope(view.inner, key, copy, info), quiet=quiet)
        write_local_copy(TableSource(local, source.prefix, source.columns), key, size, out)

    def _evict(self, keep: set[str]) -> None:
        with self._lock:
            copies = sorted(
                (p for pattern in _COPIES for p in self.folder.glob(pattern)),
                key=lambda p: p.stat().st_mtime,
            )
            total = sum(p.stat().st_size for p in copies)
            for path in copies:
                if total <= self.max_bytes:
                    break
                if path.name in keep or path.name in self._in_use:
                    continue
                total -= path.stat().st_size
                path.unlink(missing_ok=True)
                path.with_name(path.name + ".json").unlink(missing_ok=True)


def _over(view: EncryptingStore, inner: Store, *, quiet: bool) -> EncryptingStore:
    """``view``'s decryption (custody, identities, refusal audit unless ``quiet``) over
    ``inner``."""
    from passerelle.storage.encrypting import EncryptingStore

    hook = None if quiet else view.on_refused
    return EncryptingStore(
        inner, view.custody, identity_prefix=view.identity_prefix, on_refused=hook
    )


def _seal(fd: int) -> None:
    """No more writes to a decrypted copy once it is whole (the child only reads it)."""
    import fcntl

    with suppress(OSError, AttributeError):
        fcntl.fcntl(
            fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
        )


@dataclass
class _Local:
    key: str
    path: Path
    info: ObjectInfo


class _LocalEnvelope(StoreWrapper):
    """The raw store, except that one key's bytes and metadata come from the local copy."""

    def __init__(self, inner: Store, key: str, path: Path, info: ObjectInfo) -> None:
        super().__init__(inner)
        self._local = _Local(key, path, info)

    def head(self, key: str) -> ObjectInfo:
        if key == self._local.key:
            return self._local.info
        return super().head(key)

    def get(
        self,
        key: str,
        *,
        start: int | None = None,
        end: int | None = None,
        if_match: str | None = None,
        chunk_size: int = 8 * 1024 * 1024,
    ) -> ObjectReader:
        if key != self._local.key:
            return super().get(key, start=start, end=end, if_match=if_match, chunk_size=chunk_size)
        size = self._local.info.size
        lo = 0 if start is None else max(0, start)
        hi = size if end is None else min(size, end)
        hi = max(lo, hi)
        return ObjectReader(
            self._local.info,
            _read_range(self._local.path, lo, hi, chunk_size),
            hi - lo,
            label=f"the cached envelope of {key}",
        )


def _read_range(path: Path, start: int, end: int, chunk_size: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(start)
        left = end - start
        while left > 0:
            chunk = handle.read(min(chunk_size, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
