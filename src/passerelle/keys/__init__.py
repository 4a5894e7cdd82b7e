"""Key custody: the hub's secrets and the key-encryption keys (KEKs) that wrap data keys.

Two contracts live here, below every other layer so storage can use them:

- ``KeyStore`` (``hub_secrets.py``): ``key(name) -> bytes`` for the hub's own
  secrets (audit HMAC, pseudonym key, project master);
- ``KeyCustody`` (``custody.py``): KEKs that wrap and unwrap per-object data
  keys *inside* the custody (a key file, or a PKCS#11 HSM where the KEK is
  non-extractable), with creation, rotation state and destruction (crypto-erase).
"""

from passerelle.keys.custody import KekInfo, KekState, KeyCustody
from passerelle.keys.file_custody import FileCustody
from passerelle.keys.hub_secrets import (
    KEY_NAMES,
    EnvKeyStore,
    FileKeyStore,
    KeyStore,
    derive_project_key,
)

__all__ = [
    "KEY_NAMES",
    "EnvKeyStore",
    "FileCustody",
    "FileKeyStore",
    "KekInfo",
    "KekState",
    "KeyCustody",
    "KeyStore",
    "derive_project_key",
]
