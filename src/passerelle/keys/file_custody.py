"""KEKs in a key file beside the hub: the embedded default custody.

The file (JSON, mode 0600) holds each KEK's 256-bit AES key, state and dates.
Wrapping is AES-256-GCM with a random 96-bit nonce: ``wrapped = nonce || ciphertext || tag``
(60 bytes for a 32-byte data key), the caller's ``context`` as associated data.
Destroying a KEK removes its bytes from the file (the entry stays, marked destroyed,
so the audit trail and `keys list` can still name it). A file is only as safe as
the disk it sits on: production hubs hold their KEKs in an HSM (``Pkcs11Custody``).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from passerelle.errors import ConfigError, KeyUnavailableError, TamperedDataError
from passerelle.keys.custody import KekInfo, KekState, check_key_id

__all__ = ["FileCustody"]

_NONCE = 12


class FileCustody:
    """KEKs in a JSON file readable only by its owner."""

    kind = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    # -- the contract ---------------------------------------------------------------
    def current_key_id(self) -> str:
        for entry in self._entries().values():
            if entry["state"] == KekState.CURRENT:
                return str(entry["id"])
        raise KeyUnavailableError(
            f"the key file {self.path} holds no current key-encryption key; "
            "create one with `passerelle keys create`"
        )

    def create_key(self) -> str:
        with self._lock:
            entries = self._entries()
            key_id = _new_key_id(entries)
            for entry in entries.values():
                if entry["state"] == KekState.CURRENT:
                    entry["state"] = KekState.RETIRED.value
            entries[key_id] = {
                "id": key_id,
                "state": KekState.CURRENT.value,
                "created": _now(),
                "key": base64.b64encode(secrets.token_bytes(32)).decode(),
            }
            self._save(entries)
            return key_id

    def wrap(self, key_id: str, data_key: bytes, context: bytes) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = secrets.token_bytes(_NONCE)
        return nonce + AESGCM(self._kek(key_id)).encrypt(nonce, bytes(data_key), context)

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        kek = self._kek(key_id)
        if len(wrapped) < _NONCE + 16:
            raise TamperedDataError(
                f"a data key wrapped under {key_id!r} is too short to be genuine; "
                "the object's key metadata was damaged or altered"
            )
        try:
            return AESGCM(kek).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], context)
        except InvalidTag:
            raise TamperedDataError(
                f"a data key wrapped under {key_id!r} does not belong to this object; "
                "its key metadata or identity was altered"
            ) from None

    def destroy_key(self, key_id: str) -> None:
        check_key_id(key_id)
        with self._lock:
            entries = self._entries()
            entry = entries.get(key_id)
            if entry is None:
                raise KeyUnavailableError(f"the key file {self.path} has no key {key_id!r}")
            if entry["state"] == KekState.CURRENT:
                raise KeyUnavailableError(
                    f"{key_id!r} is the current key-encryption key; "
                    "rotate to a new one (`passerelle keys rotate`) before destroying it"
                )
            entry["state"] = KekState.DESTROYED.value
            entry["destroyed"] = _now()
            entry.pop("key", None)
            self._save(entries)

    def keys(self) -> list[KekInfo]:
        return [
            KekInfo(
                str(e["id"]),
                self.kind,
                KekState(e["state"]),
                datetime.fromisoformat(e["created"]),
                datetime.fromisoformat(e["destroyed"]) if e.get("destroyed") else None,
            )
            for e in sorted(self._entries().values(), key=lambda e: str(e["created"]))
        ]

    # -- the file -------------------------------------------------------------------
    def _kek(self, key_id: str) -> bytes:
        check_key_id(key_id)
        entry = self._entries().get(key_id)
        if entry is None:
            raise KeyUnavailableError(
                f"no key-encryption key {key_id!r} is in {self.path}; "
                "the objects under it cannot be read here"
            )
        if entry["state"] == KekState.DESTROYED:
            raise KeyUnavailableError(
                f"the key-encryption key {key_id!r} was destroyed on {entry.get('destroyed')}: "
                "the objects under it are crypto-erased and cannot be read"
            )
        return base64.b64decode(entry["key"])

    def _entries(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(
                f"the key file {self.path} is damaged; restore it from backup"
            ) from None
        kek = data.get("keks") if isinstance(data, dict) else None
        if not isinstance(kek, dict):
            raise ConfigError(f"the key file {self.path} is damaged; restore it from backup")
        return kek

    def _save(self, entries: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"format": "passerelle-keks-1", "keks": entries}, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _new_key_id(entries: dict[str, Any]) -> str:
    """``kek-YYYYMMDD-<8 hex>``: sortable by day, unique by chance."""
    while True:
        key_id = f"kek-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"
        if key_id not in entries:
            return key_id
