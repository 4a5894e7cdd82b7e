"""The scan cache: one local copy per file version, reused, bounded, private."""

from __future__ import annotations

import stat
from pathlib import Path

from passerelle.research import ScanCache, TableSource
from passerelle.storage import StoreWrapper, open_store


class CountingStore(StoreWrapper):
    def __init__(self, inner: object) -> None:
        super().__init__(inner)  # type: ignore[arg-type]
        self.gets = 0

    def before(self, op: str, key: str | None) -> None:
        if op == "get":
            self.gets += 1


def test_copies_once_then_reuses_and_recopies_a_rewritten_file(tmp_path: Path) -> None:
    store = CountingStore(open_store(f"memory://scan-{tmp_path.name}"))
    for i in range(3):
        store.put(f"v1/part-{i}.parquet", b"x" * 100, size=100)
    cache = ScanCache(tmp_path / "cache")
    source = TableSource(store, "v1")
    files = {f"v1/part-{i}.parquet": 100 for i in range(3)}
    first = cache.fetch(source, files)
    assert store.gets == 3 and all(p.read_bytes() == b"x" * 100 for p in first)
    assert cache.fetch(source, files) == first and store.gets == 3
    store.put("v1/part-0.parquet", b"y" * 120, size=120)
    again = cache.fetch(source, {**files, "v1/part-0.parquet": 120})
    assert store.gets == 4 and again[0].read_bytes() == b"y" * 120
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700


def test_least_recently_used_copies_go_first(tmp_path: Path) -> None:
    store = open_store(f"memory://scan-lru-{tmp_path.name}")
    for i in range(4):
        store.put(f"k{i}", b"z" * 100, size=100)
    cache = ScanCache(tmp_path / "cache", max_bytes=250)
    source = TableSource(store, "")
    for i in range(4):
        kept = cache.fetch(source, {f"k{i}": 100})
        assert kept[0].exists()
    remaining = sorted((tmp_path / "cache").glob("*.parquet"))
    assert len(remaining) == 2 and kept[0] in remaining


def test_copies_a_query_holds_are_never_evicted_under_it(tmp_path: Path) -> None:
    store = open_store(f"memory://scan-hold-{tmp_path.name}")
    for i in range(3):
        store.put(f"k{i}", b"z" * 100, size=100)
    cache = ScanCache(tmp_path / "cache", max_bytes=150)
    source = TableSource(store, "")
    held = cache.fetch(source, {"k0": 100}, hold=True)  # a query's child reads k0
    cache.fetch(source, {"k1": 100})
    cache.fetch(source, {"k2": 100})
    assert held[0].exists()  # over the bound, but held: the others went instead
    cache.release(held)
    cache.fetch(source, {"k1": 100})
    assert not held[0].exists()  # released, it is the least recently used again


def test_a_failed_copy_leaves_no_partial_file_and_holds_nothing(tmp_path: Path) -> None:
    import pytest

    from passerelle.errors import ObjectNotFoundError

    store = open_store(f"memory://scan-fail-{tmp_path.name}")
    store.put("k0", b"z" * 100, size=100)
    cache = ScanCache(tmp_path / "cache", max_bytes=50)
    source = TableSource(store, "")
    with pytest.raises(ObjectNotFoundError):
        cache.fetch(source, {"k0": 100, "missing": 10}, hold=True)
    assert not list((tmp_path / "cache").glob("*.partial"))
    assert not cache._in_use
