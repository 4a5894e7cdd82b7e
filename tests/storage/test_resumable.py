"""Resumable multipart uploads: an upload found again by its id keeps its parts.

Run on every backend: those without the capability must say so clearly; the
others (Azurite, Ceph RGW, SeaweedFS) must resume, verify part receipts,
assemble with final metadata, and leave nothing visible or behind on abort.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from passerelle.errors import ObjectNotFoundError, UnsupportedOperationError
from passerelle.storage import Store, open_store
from passerelle.storage.model import MiB
from tests.backends import new_store_url

PART = 5 * MiB


def test_capability_is_declared_and_honoured(store: Store) -> None:
    if store.capabilities.resumable_upload:
        return
    with pytest.raises(UnsupportedOperationError, match="restart"):
        store.start_upload("x.bin")


def test_upload_resumes_from_its_parts_after_the_writer_is_gone(store: Store) -> None:
    if not store.capabilities.resumable_upload:
        pytest.skip("no resumable uploads here")
    chunks = [os.urandom(PART), os.urandom(PART), os.urandom(1234)]
    first = store.start_upload(
        "big/obj.bin", content_type="application/x-test", metadata={"stage": "created"}
    )
    sent = first.upload_part(1, chunks[0], sha256=hashlib.sha256(chunks[0]).hexdigest())
    with pytest.raises(ObjectNotFoundError):
        store.head("big/obj.bin")  # nothing is visible before completion
    # A new process knows only the key and the upload id.
    again = open_store(store.url).resume_upload("big/obj.bin", first.upload_id)
    held = again.parts()
    assert [(p.number, p.size, p.etag) for p in held] == [(1, PART, sent.etag)]
    rest = [
        again.upload_part(n, data, sha256=hashlib.sha256(data).hexdigest())
        for n, data in ((2, chunks[1]), (3, chunks[2]))
    ]
    result = again.complete(
        [*held, *rest], metadata={"stage": "final", "digest": "abc"}, content_type="text/x-final"
    )
    assert result.size == 2 * PART + 1234
    info = store.head("big/obj.bin")
    assert info.size == result.size
    assert (info.metadata or {}).get("stage") == "final"
    assert (info.metadata or {}).get("digest") == "abc"
    assert info.content_type == "text/x-final"
    assert info.etag == result.etag
    assert store.get("big/obj.bin").read() == b"".join(chunks)


def test_abort_leaves_nothing_and_keep_spares_one_upload(store: Store) -> None:
    if not store.capabilities.resumable_upload:
        pytest.skip("no resumable uploads here")
    kept = store.start_upload("k.bin")
    kept.upload_part(1, b"a" * PART)
    other = store.start_upload("k.bin")
    other.upload_part(1, b"b" * PART)
    store.abort_uploads("k.bin", keep=kept.upload_id)
    assert [p.number for p in kept.parts()] == [1]
    kept.abort()
    if not store.url.startswith("az://"):  # Azure has no upload entity to look up
        with pytest.raises(ObjectNotFoundError):
            kept.parts()
        with pytest.raises(ObjectNotFoundError):
            other.parts()
    with pytest.raises(ObjectNotFoundError):
        store.head("k.bin")


def test_a_resumed_upload_keeps_its_storage_class(tmp_path: Path) -> None:
    """The metadata rewrite at completion must not drop the class back to STANDARD."""
    store = open_store(new_store_url("seaweedfs", tmp_path))  # Ceph here has no other class
    first = store.start_upload("cold.bin", storage_class="STANDARD_IA")
    first.upload_part(1, b"c" * PART)
    again = open_store(store.url).resume_upload(
        "cold.bin", first.upload_id, storage_class="STANDARD_IA"
    )
    again.complete(again.parts(), metadata={"passerelle_sha256": "x"})
    admin: Any = store._admin  # type: ignore[attr-defined]
    head = admin.client.head_object(Bucket=admin.bucket, Key="cold.bin")
    assert head.get("StorageClass") == "STANDARD_IA"
    assert (store.head("cold.bin").metadata or {}).get("passerelle_sha256") == "x"
