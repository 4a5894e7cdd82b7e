"""Rotation racing writers (issue 12): an object overwritten between the re-wrap's read and
its metadata update ends decryptable, with the writer's content, on every backend."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from passerelle.errors import UnsupportedOperationError
from passerelle.hub.key_rotation import rewrap_store
from passerelle.keys import FileCustody
from passerelle.live.live_store import LiveRoute, LiveStore
from passerelle.storage import ObjectInfo, Store, StoreWrapper, open_store
from passerelle.storage.encrypting import EncryptingStore
from tests.backends import new_store_url


class _OldKeyCustody:
    """What a writer that started before the rotation wraps under: the previous KEK."""

    def __init__(self, custody: FileCustody, key_id: str) -> None:
        self._custody = custody
        self._key_id = key_id

    def current_key_id(self) -> str:
        return self._key_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._custody, name)


class _OverwriteOnFirstUpdate(StoreWrapper):
    """Each key is overwritten once, just before its first metadata update lands."""

    def __init__(self, inner: Store, writers: list[EncryptingStore]) -> None:
        super().__init__(inner)
        self.writers = writers
        self.written: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def update_metadata(self, key: str, metadata: Mapping[str, str], **kw: Any) -> ObjectInfo:
        with self._lock:
            first = key not in self.written
            if first:
                self.written[key] = f"{key} as the concurrent writer left it".encode()
        if first:
            writer = self.writers[len(self.written) % len(self.writers)]
            writer.put(key, self.written[key])
        return super().update_metadata(key, metadata, **kw)


@pytest.fixture
def custody(tmp_path: Path) -> FileCustody:
    keys = FileCustody(tmp_path / "keks" / "keks.json")
    keys.create_key()
    return keys


def test_rotation_racing_writers_loses_no_object(
    backend: str, tmp_path: Path, custody: FileCustody
) -> None:
    raw = open_store(new_store_url(backend, tmp_path, "race"))
    if not raw.capabilities.conditional_metadata:
        pytest.skip(f"{raw.url} declares conditional_metadata absent: rotation refuses it")
    old = custody.current_key_id()
    keys = [f"d/part-{i}.bin" for i in range(6)]
    for key in keys:
        EncryptingStore(raw, custody).put(key, f"{key} first version".encode())
    new = custody.create_key()
    writers = [
        EncryptingStore(raw, _OldKeyCustody(custody, old)),
        EncryptingStore(raw, custody),
    ]
    racing = _OverwriteOnFirstUpdate(raw, writers)

    outcomes = {key: outcome for key, outcome, _ in rewrap_store(racing, custody, new, workers=3)}

    assert set(outcomes) == set(keys)
    assert set(outcomes.values()) <= {"rewrapped", "already"}, outcomes
    assert set(racing.written) == set(keys)  # every object was overwritten mid-rewrap
    custody.destroy_key(old)
    reader = EncryptingStore(raw, custody)
    for key in keys:
        assert reader.get(key).read() == racing.written[key]
        assert reader.envelope_info(key).key_id == new


def test_rotation_is_refused_while_writes_are_mirrored(
    tmp_path: Path, custody: FileCustody
) -> None:
    source = open_store(new_store_url("memory", tmp_path, "src"))
    mirror = open_store(new_store_url("memory", tmp_path, "dst"))
    EncryptingStore(source, custody).put("a.bin", b"payload")
    etag = source.head("a.bin").etag
    single = LiveStore(lambda: LiveRoute(source, None, (source,)))
    assert single.capabilities.conditional_metadata
    live = LiveStore(lambda: LiveRoute(source, None, (source, mirror)))
    assert not live.capabilities.conditional_metadata
    with pytest.raises(UnsupportedOperationError, match="live move"):
        live.update_metadata("a.bin", {"v": "1"}, if_match=etag)
    new = custody.create_key()
    with pytest.raises(UnsupportedOperationError, match="once the move has finished"):
        list(rewrap_store(live, custody, new))
    assert EncryptingStore(source, custody).envelope_info("a.bin").key_id != new
