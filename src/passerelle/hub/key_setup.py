"""The hub's keys at creation, and its secrets moved under the custody's KEK.

``prepare_keys`` runs in ``init_hub`` before the database exists: it creates the
first KEK when the hub encrypts a classification or wraps its secrets, then the
secrets file (plaintext ``keys.json``, or ``wrapped:FILE``). ``wrap_secrets`` converts
a running hub from a plaintext key file to a wrapped one (``passerelle keys
wrap-secrets``): wrap, read back, audit, point ``hub.toml`` at the new file, then
overwrite and remove the plaintext file. Re-running after a crash at any step is safe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from passerelle.errors import ConfigError, ConflictError, UsageError
from passerelle.hub.audit import SYSTEM, append_event, authorize
from passerelle.hub.key_rotation import current_key
from passerelle.hub.rules import Action, Principal
from passerelle.keys.hub_secrets import FileKeyStore
from passerelle.keys.wrapped_secrets import (
    WRAPPED_PREFIX,
    WrappedKeyStore,
    convert_key_file,
    remove_plaintext,
    wrapped_path,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub, HubConfig
    from passerelle.keys.custody import KeyCustody

__all__ = ["WrapReport", "prepare_keys", "record_first_key", "wrap_secrets"]


@dataclass(frozen=True)
class WrapReport:
    wrapped_file: str
    key_id: str
    secrets: list[str]
    removed: str


def prepare_keys(config: HubConfig) -> tuple[KeyCustody | None, str | None]:
    """The custody and the new first KEK (when one is needed), and the hub's secrets file."""
    from passerelle.keys.opening import open_custody

    if config.custody not in ("file", "pkcs11"):
        raise ConfigError(f'custody must be "file" or "pkcs11", not {config.custody!r}')
    custody: KeyCustody | None = None
    first: str | None = None
    wrapped = wrapped_path(config.keys)
    needs_key = bool(config.encrypt) or wrapped is not None
    if needs_key or config.custody == "pkcs11":  # an HSM is checked (module, token, PIN) now
        custody = open_custody(config)
    if needs_key and custody is not None:
        first = custody.create_key()
    if wrapped is not None and custody is not None:
        WrappedKeyStore.create((config.directory / wrapped).resolve(), custody)
    elif config.keys != "env":
        FileKeyStore.create((config.directory / config.keys).resolve())
    return custody, first


def record_first_key(hub: Hub, session: Session, key_id: str | None) -> None:
    """Audit the KEK ``prepare_keys`` made, once the hub's audit log exists."""
    if key_id is not None:
        append_event(
            hub,
            session,
            actor=SYSTEM,
            action="keys.create",
            target=f"key:{key_id}",
            decision="allowed",
            details={"custody": hub.custody().kind, "reason": "hub init"},
        )


def wrap_secrets(hub: Hub, actor: Principal, *, file: str = "keys.wrapped.json") -> WrapReport:
    """Move the hub's plaintext key file under the custody's current KEK (see module doc)."""
    from passerelle.hub.hub import CONFIG_NAME

    config = hub.config
    if config.keys == "env":
        raise UsageError(
            "this hub reads its secrets from PASSERELLE_KEY_* variables; wrap-secrets "
            'converts a key file (keys = "keys.json" in hub.toml)'
        )
    if wrapped_path(config.keys) is not None:
        raise ConflictError(f"the hub's secrets are already wrapped ({config.keys} in hub.toml)")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", file):
        raise UsageError(f"{file!r} is not a plain file name; give one like keys.wrapped.json")
    source = (config.directory / config.keys).resolve()
    target = (config.directory / file).resolve()
    if target == source:
        raise UsageError(f"{file} is the plaintext key file itself; give another file name")
    if target.exists() and not _is_wrapped_key_file(target):
        # hub.toml, the KEK file, the database...: never overwritten, never read as keys
        raise UsageError(
            f"{file} already exists in the hub folder and is not a wrapped key file; "
            "give a new file name, like keys.wrapped.json"
        )
    custody = hub.custody()
    with hub.transaction() as session:
        authorize(hub, session, actor, Action.KEYS_MANAGE, "keys:secrets", {"op": "wrap-secrets"})
        key_id = current_key(custody)
        if key_id is None:
            key_id = custody.create_key()
            append_event(
                hub,
                session,
                actor=actor.name,
                action="keys.create",
                target=f"key:{key_id}",
                decision="allowed",
                details={"custody": custody.kind, "reason": "wrap-secrets"},
            )
        store = convert_key_file(source, target, custody)
        names = sorted(store.key_ids())
        append_event(
            hub,
            session,
            actor=actor.name,
            action="keys.wrap-secrets",
            target="keys:secrets",
            decision="allowed",
            details={"key": key_id, "file": file, "secrets": names, "removed": config.keys},
        )
    _point_keys_at(config.directory / CONFIG_NAME, WRAPPED_PREFIX + file)
    remove_plaintext(source)
    hub.keys = WrappedKeyStore(target, hub.custody)
    return WrapReport(str(target), key_id, names, str(source))


def _is_wrapped_key_file(path: Path) -> bool:
    """``path`` is a wrapped key file an interrupted wrap-secrets left (its JSON kind)."""
    import json

    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 1024 * 1024:
            return False
        document = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    from passerelle.keys.wrapped_secrets import FORMAT

    return isinstance(document, dict) and document.get("format") == FORMAT


def _point_keys_at(path: Path, value: str) -> None:
    """Set ``keys`` in hub.toml's [hub] table, through the checked whole-file writer
    (parsed, changed, written beside, read back, renamed over: never spliced as text)."""
    from passerelle.hub.config_file import set_hub_setting

    set_hub_setting(path, "keys", value)
