"""Listing split by prefix gives what the serial listing gives, and the same plan."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passerelle.errors import EndpointUnreachableError
from passerelle.migration import PlanOptions, plan_migration
from passerelle.migration.parallel_listing import parallel_list, units
from passerelle.storage import open_store
from passerelle.storage.base import StoreWrapper
from passerelle.storage.model import ObjectInfo
from tests.backends import new_store_url

KEYS = [
    "a.txt", "a/1", "a/b/2", "a/b/3", "a/b.c", "a-b/q", "a0", "b/x", "b/y/z", "c",
    "d/e/f/g", "d/e/h", "é/1", "z/" + "x" * 50,
]  # fmt: skip

segment = st.text(alphabet="ab./-é0", min_size=1, max_size=4).filter(lambda s: "/" not in s)


@given(st.sets(st.lists(segment, min_size=1, max_size=3).map("/".join), min_size=1))
def test_units_concatenate_in_the_serial_key_order(keys: set[str]) -> None:
    prefixes = {k.split("/", 1)[0] for k in keys if "/" in k}
    top = [ObjectInfo(k, 0) for k in keys if "/" not in k]
    groups = {f"{p}/": sorted(k for k in keys if k.startswith(f"{p}/")) for p in prefixes}
    flat: list[str] = []
    for unit in units(prefixes, top):
        flat.extend(groups[unit] if isinstance(unit, str) else [unit.key])
    assert flat == sorted(keys)


def _fill(url: str, keys: list[str] = KEYS) -> None:
    store = open_store(url)
    for i, key in enumerate(keys):
        store.put(key, b"x" * (i + 1))


def _entries(infos: object) -> list[tuple[str, int, str | None]]:
    return [(o.key, o.size, o.etag) for o in infos]  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend", ["memory", "file", "azurite", "ceph"])
def test_parallel_listing_equals_the_serial_one(backend: str, tmp_path: Path) -> None:
    url = new_store_url(backend, tmp_path, "plist")
    _fill(url)
    store = open_store(url)
    serial = _entries(store.list(""))
    parallel = parallel_list(store, threads=3, page_size=2)
    assert parallel is not None
    got = _entries(parallel)
    if backend == "file":  # local folders do not list in key order: same entries
        assert sorted(got) == sorted(serial)
    else:
        assert got == serial
    assert len(got) == len(KEYS)


@pytest.mark.parametrize("folders_only", [False, True])
def test_plan_is_identical_with_parallel_and_serial_listing(
    folders_only: bool, tmp_path: Path
) -> None:
    keys = [k for k in KEYS if "/" in k] if folders_only else KEYS
    src_url = new_store_url("azurite", tmp_path, "plsrc")
    dst_url = new_store_url("ceph", tmp_path, "pldst")
    _fill(src_url, keys)
    src, dst = open_store(src_url), open_store(dst_url)
    # Azure's listing with tiers splits only when no object sits at the top level
    assert (parallel_list(src, threads=8, details=True) is not None) == folders_only
    for key in keys[::3]:  # some already at the destination, one of them changed
        dst.put(key, b"y" * 3)
    dst.put("only-at-dest/k", b"d")
    tables = []
    for threads in (1, 8):
        journal = tmp_path / f"j{threads}.db"
        summary = plan_migration(
            src_url, dst_url, journal, PlanOptions(list_threads=threads), source=src, dest=dst
        )
        conn = sqlite3.connect(journal)
        rows = conn.execute(
            "SELECT key, action, status, size, source_etag, storage_class, dest_class "
            "FROM objects ORDER BY key"
        ).fetchall()
        conn.close()
        tables.append((rows, summary.counts))
    assert tables[0] == tables[1]
    assert len(tables[0][0]) == len(keys) + 1


class _PrefixDown(StoreWrapper):
    """The listing of one prefix fails: the parallel listing must say so, not skip it."""

    def list(self, prefix: str = "", **kwargs: Any) -> Iterator[ObjectInfo]:
        if prefix.startswith("d/"):
            raise EndpointUnreachableError("the server stopped answering")
        return self.inner.list(prefix, **kwargs)


def test_a_prefix_that_fails_to_list_fails_the_listing(tmp_path: Path) -> None:
    url = new_store_url("memory", tmp_path, "pfail")
    _fill(url)
    parallel = parallel_list(_PrefixDown(open_store(url)), threads=2, page_size=1)
    assert parallel is not None
    with pytest.raises(EndpointUnreachableError):
        list(parallel)


def test_a_reader_that_stops_early_does_not_hang(tmp_path: Path) -> None:
    url = new_store_url("memory", tmp_path, "pstop")
    store = open_store(url)
    for p in range(6):
        for i in range(50):
            store.put(f"p{p}/{i:03}", b"x")
    parallel = parallel_list(store, threads=4, page_size=1)
    assert parallel is not None
    assert next(parallel).key == "p0/000"
    parallel.close()  # producers blocked on full queues are released


def test_nothing_to_split_lists_serially(tmp_path: Path) -> None:
    store = open_store(new_store_url("memory", tmp_path, "pflat"))
    for i in range(5):
        store.put(f"k{i}", b"x")
    assert parallel_list(store, threads=4) is None
    store.put("only/one", b"x")
    assert parallel_list(store, threads=1) is None


class _CountingDirs(StoreWrapper):
    """Counts delimiter listings (each lists a level's direct children in full)."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.dirs: list[str] = []

    def list_dir(self, prefix: str = "") -> Any:
        self.dirs.append(prefix)
        return self.inner.list_dir(prefix)


def test_discovery_does_not_list_flat_prefixes_twice(tmp_path: Path) -> None:
    store = open_store(new_store_url("memory", tmp_path, "pdisc"))
    for folder in ("large", "small"):
        for i in range(30):
            store.put(f"{folder}/{i:03}", b"x")
    counting = _CountingDirs(store)
    parallel = parallel_list(counting, threads=8, page_size=7)
    assert parallel is not None
    assert [o.key for o in parallel] == [o.key for o in store.list("")]
    assert counting.dirs == [""]  # two prefixes already list concurrently: no descent


def test_discovery_descends_below_a_single_root_folder(tmp_path: Path) -> None:
    store = open_store(new_store_url("memory", tmp_path, "proot"))
    for part in ("a", "b", "c"):
        for i in range(5):
            store.put(f"data/{part}/{i}", b"x")
    counting = _CountingDirs(store)
    parallel = parallel_list(counting, threads=8, page_size=2)
    assert parallel is not None
    assert [o.key for o in parallel] == [o.key for o in store.list("")]
    assert counting.dirs == ["", "data/"]  # one level down, then three prefixes: stop
