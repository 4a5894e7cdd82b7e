"""``Store.list_uploads``: every incomplete upload in one listing, matched by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.storage import StoreWrapper, open_store
from passerelle.storage.model import MiB
from tests.backends import new_store_url


def test_s3_lists_incomplete_uploads_once_with_keys_relative_to_the_store(
    tmp_path: Path,
) -> None:
    url = new_store_url("ceph", tmp_path, "up")
    store = open_store(url)
    assert list(store.list_uploads()) == []
    first = store.start_upload("a/one.bin")
    first.upload_part(1, b"x" * (5 * MiB))
    second = store.start_upload("b/two.bin")
    done = store.start_upload("c/done.bin")
    done.complete([done.upload_part(1, b"y" * 10)])
    found = {(u.key, u.upload_id) for u in store.list_uploads()}
    assert found == {("a/one.bin", first.upload_id), ("b/two.bin", second.upload_id)}
    assert [u.key for u in store.list_uploads("a")] == ["a/one.bin"]
    assert all(u.initiated is not None for u in store.list_uploads())
    assert store.abort_uploads("a/one.bin") == 1
    assert [u.key for u in StoreWrapper(store).list_uploads()] == ["b/two.bin"]
    second.abort()
    assert list(store.list_uploads()) == []


def test_s3_store_under_a_prefix_lists_only_its_own_uploads(tmp_path: Path) -> None:
    url = new_store_url("ceph", tmp_path, "up")
    inner = open_store(f"{url}/sub")
    outer = open_store(url)
    mine = inner.start_upload("k.bin")
    outer.start_upload("elsewhere.bin")
    assert [(u.key, u.upload_id) for u in inner.list_uploads()] == [("k.bin", mine.upload_id)]
    assert outer.abort_uploads("elsewhere.bin") == 1
    assert inner.abort_uploads("k.bin") == 1


def test_local_folder_lists_the_temporary_files_of_uploads(tmp_path: Path) -> None:
    url = new_store_url("file", tmp_path, "up")
    store = open_store(url)
    root = Path(url.removeprefix("file://"))
    (root / "deep" / "er").mkdir(parents=True)
    (root / "deep" / "er" / "big.bin#3").write_bytes(b"partial")
    (root / "top.bin#12").write_bytes(b"partial")
    store.put("deep/er/finished.bin", b"whole")
    found = sorted((u.key, u.upload_id) for u in store.list_uploads())
    assert found == [("deep/er/big.bin", "3"), ("top.bin", "12")]
    assert [u.key for u in store.list_uploads("deep")] == ["deep/er/big.bin"]
    assert store.abort_uploads("top.bin") == 1
    assert [u.key for u in store.list_uploads()] == ["deep/er/big.bin"]


@pytest.mark.parametrize("backend", ["memory", "azurite"])
def test_stores_without_incomplete_uploads_list_none(backend: str, tmp_path: Path) -> None:
    store = open_store(new_store_url(backend, tmp_path, "up"))
    store.put("k", b"v")
    assert list(store.list_uploads()) == []
