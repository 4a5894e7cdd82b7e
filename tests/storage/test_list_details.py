"""Listing with details (Azure): tiers, content type and metadata, across pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.storage import azure_list, open_store
from tests.backends import new_store_url


def test_azure_listing_carries_tier_type_metadata_and_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = new_store_url("azurite", tmp_path)
    store = open_store(url)
    keys = ["a/one.csv", "a/deux é.csv", "b/三.bin", "b/plus+sign.bin", "c.txt"]
    for i, key in enumerate(keys):
        store.put(key, b"x" * (i + 1), content_type="text/csv", metadata={"row": str(i)})
    store._admin.set_tier("c.txt", "Cool")  # type: ignore[attr-defined]
    monkeypatch.setattr(azure_list, "PAGE_SIZE", 2)  # five blobs: three pages
    listed = {info.key: info for info in store.list(details=True)}
    assert sorted(listed) == sorted(keys)
    for i, key in enumerate(keys):
        info = listed[key]
        assert info.size == i + 1
        assert info.etag and info.last_modified is not None
        assert info.content_type == "text/csv"
        assert dict(info.metadata or {}) == {"row": str(i)}
    assert (listed["c.txt"].storage_class or "").lower() == "cool"
    assert (listed["a/one.csv"].storage_class or "hot").lower() == "hot"
    assert [i.key for i in store.list("b", details=True)] == sorted(["b/三.bin", "b/plus+sign.bin"])
