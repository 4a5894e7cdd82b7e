"""The hub's own secrets held wrapped by a KEK: a ``KeyStore`` whose file holds no key.

``hub.toml`` ``keys = "wrapped:keys.wrapped.json"`` names a JSON file (mode 0600)::

    {"format": "passerelle-wrapped-secrets-1",
     "secrets": {"audit": {"kek": "kek-20261202-1a2b3c4d", "wrapped": "<base64, 60 bytes>"},
                 "pseudonym": {...}, "project": {...}}}

Each secret (audit HMAC key, pseudonym key, project master) is wrapped by the
custody (``KeyCustody.wrap``: AES-GCM inside the HSM for ``Pkcs11Custody``) with
``passerelle/hub-secret/1/<name>`` as context, so entries cannot be swapped between
names. ``key(name)`` reads the file and asks the custody to unwrap on every call:
the plaintext exists only in the memory of the caller using it (Python cannot
promise to wipe it afterwards). Stealing the file and the database without the
HSM yields nothing. ``convert_key_file`` turns an existing plaintext ``keys.json``
into this form; ``rewrap`` moves every entry under a new KEK during rotation.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from passerelle.errors import ConfigError, ConflictError
from passerelle.keys.custody import KeyCustody, check_key_id
from passerelle.keys.hub_secrets import KEY_NAMES, FileKeyStore

__all__ = [
    "FORMAT",
    "WRAPPED_PREFIX",
    "WrappedKeyStore",
    "convert_key_file",
    "remove_plaintext",
    "wrapped_path",
]

WRAPPED_PREFIX = "wrapped:"
FORMAT = "passerelle-wrapped-secrets-1"


def wrapped_path(keys_setting: str) -> str | None:
    """The file named by ``keys = "wrapped:FILE"``, or ``None`` for another setting."""
    if not keys_setting.startswith(WRAPPED_PREFIX):
        return None
    name = keys_setting[len(WRAPPED_PREFIX) :].strip()
    if not name:
        raise ConfigError(
            'hub.toml: keys = "wrapped:" needs a file name, e.g. wrapped:keys.wrapped.json'
        )
    return name


def _context(name: str) -> bytes:
    return f"passerelle/hub-secret/1/{name}".encode()


class WrappedKeyStore:
    """Secrets wrapped under the custody's KEKs, unwrapped on each ``key()``."""

    def __init__(self, path: Path, custody: KeyCustody | Callable[[], KeyCustody]) -> None:
        self.path = path
        self._custody = custody

    def custody(self) -> KeyCustody:
        found = self._custody
        return found() if callable(found) else found

    @classmethod
    def create(
        cls,
        path: Path,
        custody: KeyCustody | Callable[[], KeyCustody],
        values: Mapping[str, bytes] | None = None,
    ) -> WrappedKeyStore:
        """Write fresh random 256-bit secrets (or ``values``) wrapped under the current KEK."""
        if path.exists():
            raise ConflictError(f"{path} already holds wrapped hub keys; keep it, or move it away")
        store = cls(path, custody)
        chosen = dict(values) if values else {n: secrets.token_bytes(32) for n in KEY_NAMES}
        held = store.custody()
        kek = held.current_key_id()
        store._save({name: _entry(held, kek, name, value) for name, value in chosen.items()})
        return store

    # -- the KeyStore contract -------------------------------------------------------
    def key(self, name: str) -> bytes:
        entry = self._entries().get(name)
        if entry is None:
            raise ConfigError(f"the wrapped key file {self.path} has no {name!r} key")
        kek, wrapped = entry
        return self.custody().unwrap(kek, wrapped, _context(name))

    # -- what rotation and crypto-erase need -------------------------------------------
    def key_ids(self) -> dict[str, str]:
        """Each secret's name and the KEK it is wrapped under."""
        return {name: kek for name, (kek, _) in self._entries().items()}

    def rewrap(self, to_key: str) -> int:
        """Wrap every secret under KEK ``to_key`` (one atomic file write); how many moved."""
        check_key_id(to_key)
        held = self.custody()
        entries = self._entries()
        moved = {name for name, (kek, _) in entries.items() if kek != to_key}
        if not moved:
            return 0
        out = {}
        for name, (kek, wrapped) in entries.items():
            if name in moved:
                out[name] = _entry(held, to_key, name, held.unwrap(kek, wrapped, _context(name)))
            else:
                out[name] = {"kek": kek, "wrapped": base64.b64encode(wrapped).decode()}
        self._save(out)
        return len(moved)

    # -- the file ----------------------------------------------------------------------
    def _entries(self) -> dict[str, tuple[str, bytes]]:
        damaged = f"the wrapped key file {self.path} is damaged; restore it from your backup"
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            raise ConfigError(
                f"the wrapped key file {self.path} is missing: restore it from your backup"
            ) from None
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(damaged) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigError(damaged)
        found = data.get("secrets")
        if not isinstance(found, dict):
            raise ConfigError(damaged)
        out = {}
        for name, entry in found.items():
            try:
                out[str(name)] = (
                    str(entry["kek"]),
                    base64.b64decode(entry["wrapped"], validate=True),
                )
            except (KeyError, TypeError, binascii.Error):
                raise ConfigError(damaged) from None
        return out

    def _save(self, entries: Mapping[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"format": FORMAT, "secrets": dict(entries)}, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)


def _entry(custody: KeyCustody, kek: str, name: str, value: bytes) -> dict[str, str]:
    wrapped = custody.wrap(kek, value, _context(name))
    return {"kek": kek, "wrapped": base64.b64encode(wrapped).decode()}


def convert_key_file(source: Path, target: Path, custody: KeyCustody) -> WrappedKeyStore:
    """Wrap the secrets of the plaintext key file ``source`` into ``target``, then check it.

    Re-running after a crash is safe: a ``target`` that already holds exactly the
    same secrets is kept. The caller points ``hub.toml`` at ``target`` and only then
    removes ``source`` (:func:`remove_plaintext`).
    """
    plain = FileKeyStore(source)
    values = {name: plain.key(name) for name in KEY_NAMES}
    if target.exists():
        store = WrappedKeyStore(target, custody)
        if {n: store.key(n) for n in KEY_NAMES} != values:
            raise ConflictError(
                f"{target} already holds other wrapped keys than {source}; move it away first"
            )
        return store
    store = WrappedKeyStore.create(target, custody, values)
    if {n: store.key(n) for n in KEY_NAMES} != values:  # pragma: no cover - a custody bug
        target.unlink()
        raise ConfigError(f"the keys wrapped into {target} do not read back; nothing was changed")
    return store


def remove_plaintext(path: Path) -> None:
    """Overwrite the plaintext key file with zeros, flush, and remove it.

    Best effort: on copy-on-write file systems, SSDs and backups the old blocks may
    survive; rotate the secrets too when that matters."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    with path.open("r+b") as handle:
        handle.write(b"\0" * size)
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()
