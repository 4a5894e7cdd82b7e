"""The hub's own secrets wrapped by the custody's KEK: at init, converted from keys.json,
moved by rotation, and never destroyed with a KEK."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from passerelle.errors import ConfigError, ConflictError, PermissionDeniedError, TamperedDataError
from passerelle.hub import Hub
from passerelle.hub import key_admin as K
from passerelle.hub.audit import verify_audit
from passerelle.hub.key_setup import wrap_secrets
from passerelle.keys import KEY_NAMES, FileCustody
from passerelle.keys.wrapped_secrets import WrappedKeyStore, convert_key_file
from tests.keys.hubs import audit_events, key_hub


def _secrets(hub: Hub) -> dict[str, bytes]:
    return {name: hub.keys.key(name) for name in KEY_NAMES}


def _no_plaintext(path: Path, values: dict[str, bytes]) -> None:
    raw = path.read_bytes()
    for value in values.values():
        assert value not in raw and base64.b64encode(value) not in raw


@pytest.mark.parametrize("custody", ["file", "pkcs11"])
def test_a_hub_created_with_wrapped_secrets(tmp_path: Path, custody: str) -> None:
    k = key_hub(tmp_path, custody=custody, keys="wrapped:keys.wrapped.json")
    folder = k.hub.config.directory
    assert isinstance(k.hub.keys, WrappedKeyStore)
    assert not (folder / "keys.json").exists()
    values = _secrets(k.hub)
    assert len(set(values.values())) == 3 and all(len(v) == 32 for v in values.values())
    _no_plaintext(folder / "keys.wrapped.json", values)
    assert (folder / "keys.wrapped.json").stat().st_mode & 0o777 == 0o600
    reopened = Hub.open(folder)
    assert _secrets(reopened) == values
    assert verify_audit(reopened).ok
    created = audit_events(reopened, "keys.create")
    assert created[0]["actor"] == "system" and created[0]["reason"] == "hub init"
    reopened.close()


@pytest.mark.parametrize("custody", ["file", "pkcs11"])
def test_converting_keys_json_removes_the_plaintext(tmp_path: Path, custody: str) -> None:
    k = key_hub(tmp_path, custody=custody)
    folder = k.hub.config.directory
    values = _secrets(k.hub)
    toml_before = (folder / "hub.toml").read_text().splitlines()
    with pytest.raises(PermissionDeniedError, match="admin"):
        wrap_secrets(k.hub, k.auditor)
    assert (folder / "keys.json").exists()

    report = wrap_secrets(k.hub, k.admin)

    assert report.secrets == sorted(KEY_NAMES)
    assert not (folder / "keys.json").exists()
    _no_plaintext(folder / "keys.wrapped.json", values)
    toml_after = (folder / "hub.toml").read_text().splitlines()
    changed = [(a, b) for a, b in zip(toml_before, toml_after, strict=True) if a != b]
    assert changed == [('keys = "keys.json"', 'keys = "wrapped:keys.wrapped.json"')]
    reopened = Hub.open(folder)
    assert isinstance(reopened.keys, WrappedKeyStore) and _secrets(reopened) == values
    assert verify_audit(reopened).ok  # the same audit key, now read through the KEK
    [event] = audit_events(reopened, "keys.wrap-secrets")
    assert event["key"] == report.key_id and event["removed"] == "keys.json"
    with pytest.raises(ConflictError, match="already wrapped"):
        wrap_secrets(reopened, k.admin)
    reopened.close()


def test_a_conversion_cut_short_is_finished_by_running_it_again(tmp_path: Path) -> None:
    k = key_hub(tmp_path)
    folder = k.hub.config.directory
    values = _secrets(k.hub)
    # a crash after the wrapped file was written, before hub.toml changed
    convert_key_file(folder / "keys.json", folder / "keys.wrapped.json", k.hub.custody())
    wrap_secrets(k.hub, k.admin)
    assert _secrets(Hub.open(folder)) == values
    # a wrapped file holding other secrets is never silently replaced
    other = key_hub(tmp_path / "other")
    other_folder = other.hub.config.directory
    WrappedKeyStore.create(other_folder / "keys.wrapped.json", other.hub.custody())
    with pytest.raises(ConflictError, match="other wrapped keys"):
        wrap_secrets(other.hub, other.admin)
    assert (other_folder / "keys.json").exists()


def test_rotation_moves_the_secrets_and_only_then_may_the_old_kek_go(tmp_path: Path) -> None:
    k = key_hub(tmp_path, keys="wrapped:keys.wrapped.json")
    assert isinstance(k.hub.keys, WrappedKeyStore)
    old = k.hub.custody().current_key_id()
    values = _secrets(k.hub)
    K.create_key(k.hub, k.admin)  # a new current KEK; the secrets stay under the old one
    for erase in (False, True):
        with pytest.raises(ConflictError, match="wraps the hub's own secrets"):
            K.destroy_key(k.hub, k.admin, old, crypto_erase=erase)
    report = K.rotate_keys(k.hub, k.admin)
    assert report.secrets_rewrapped == 3
    assert set(k.hub.keys.key_ids().values()) == {report.key_id}
    K.destroy_key(k.hub, k.admin, old)
    assert _secrets(k.hub) == values
    assert verify_audit(k.hub).ok
    assert K.key_status(k.hub, k.auditor).secrets_under == dict.fromkeys(KEY_NAMES, report.key_id)


def test_wrapped_entries_cannot_be_swapped_or_damaged(tmp_path: Path) -> None:
    custody = FileCustody(tmp_path / "keks.json")
    custody.create_key()
    path = tmp_path / "keys.wrapped.json"
    store = WrappedKeyStore.create(path, custody)
    data = json.loads(path.read_text())
    s = data["secrets"]
    s["audit"], s["pseudonym"] = s["pseudonym"], s["audit"]
    path.write_text(json.dumps(data))
    with pytest.raises(TamperedDataError):
        store.key("audit")
    for damaged in (
        "",
        "{",
        '{"format": "other"}',
        '{"format": "passerelle-wrapped-secrets-1"}',
        '{"format": "passerelle-wrapped-secrets-1", "secrets": {"audit": {}}}',
    ):
        path.write_text(damaged)
        with pytest.raises(ConfigError, match="damaged"):
            store.key("audit")
    path.unlink()
    with pytest.raises(ConfigError, match="missing"):
        store.key("audit")
    with pytest.raises(ConfigError, match="needs a file name"):
        from passerelle.keys.wrapped_secrets import wrapped_path

        wrapped_path("wrapped:")
