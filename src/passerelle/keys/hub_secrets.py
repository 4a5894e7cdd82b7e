"""Key custody: the secrets the hub holds, never stored in its database.

``KeyStore`` is the one narrow contract: ``key(name) -> bytes``. Two
implementations ship: ``FileKeyStore`` (a JSON file of base64 keys, mode 0600,
beside the hub's config — the embedded default) and ``EnvKeyStore`` (keys in
``PASSERELLE_KEY_<NAME>`` environment variables, for a secrets manager or a
container platform). Keeping keys out of the database means a stolen or
rewritten database can neither forge audit events nor recompute pseudonyms.

Named keys: ``audit`` (HMAC of the audit chain and its checkpoints),
``pseudonym`` (persons' pseudonyms at ingestion) and ``project`` (the master
from which each project's extract key is derived).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Protocol

from passerelle.errors import ConfigError

__all__ = ["KEY_NAMES", "EnvKeyStore", "FileKeyStore", "KeyStore", "derive_project_key"]

KEY_NAMES = ("audit", "pseudonym", "project")


class KeyStore(Protocol):
    """Where the hub's secrets live."""

    def key(self, name: str) -> bytes:
        """The secret called ``name``; raises ``ConfigError`` when it is missing."""
        ...


class FileKeyStore:
    """Keys in a JSON file readable only by its owner."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: dict[str, bytes] | None = None

    @classmethod
    def create(cls, path: Path) -> FileKeyStore:
        """Write fresh random 256-bit keys; refuse to overwrite existing ones."""
        if path.exists():
            raise ConfigError(f"{path} already holds hub keys; keep it, or move it away first")
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {name: base64.b64encode(secrets.token_bytes(32)).decode() for name in KEY_NAMES}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
        return cls(path)

    def key(self, name: str) -> bytes:
        if self._cache is None:
            self._cache = self._load()
        try:
            return self._cache[name]
        except KeyError:
            raise ConfigError(f"the key file {self.path} has no {name!r} key") from None

    def _load(self) -> dict[str, bytes]:
        try:
            data = json.loads(self.path.read_text())
            return {str(k): base64.b64decode(v, validate=True) for k, v in data.items()}
        except FileNotFoundError:
            raise ConfigError(
                f"the hub key file {self.path} is missing: restore it from your backup"
            ) from None
        except (ValueError, AttributeError, binascii.Error):
            raise ConfigError(f"the hub key file {self.path} is damaged") from None


class EnvKeyStore:
    """Keys in ``PASSERELLE_KEY_AUDIT``, ``PASSERELLE_KEY_PSEUDONYM``... (base64)."""

    def key(self, name: str) -> bytes:
        var = f"PASSERELLE_KEY_{name.upper()}"
        value = os.environ.get(var)
        if not value:
            raise ConfigError(f"the environment has no {var}: set it to a base64 256-bit key")
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise ConfigError(f"{var} is not valid base64") from None


def derive_project_key(master: bytes, project_id: int) -> bytes:
    """The key that re-pseudonymizes one project's extracts."""
    return hmac.new(master, f"project:{project_id}".encode(), hashlib.sha256).digest()
