"""The custody contract for key-encryption keys (KEKs).

A KEK never leaves its custody: callers hand it a data key to *wrap* (encrypt)
or a wrapped key to *unwrap*, always with a ``context`` -- bytes that bind the
wrapped key to the one object it belongs to (AES-GCM associated data), so a
wrapped key copied onto another object does not unwrap. KEKs are named by a
``key_id`` (ASCII, at most 64 characters) that travels beside each wrapped key.

States: ``current`` (new data keys are wrapped under it; exactly one), ``retired``
(still unwraps, wraps nothing new: a rotation is moving its objects away) and
``destroyed`` (gone from the custody: every object under it is unreadable, which
is how a hub crypto-erases what it leaves at a provider).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from passerelle.errors import KeyUnavailableError

__all__ = ["KEY_ID_PATTERN", "KekInfo", "KekState", "KeyCustody", "check_key_id"]

KEY_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
"""Key ids: lowercase ASCII letters, digits, ``.``, ``_`` and ``-``; 1 to 64 characters."""


def check_key_id(key_id: str) -> str:
    """``key_id`` if it is a well-formed key id, else :class:`KeyUnavailableError`."""
    if not isinstance(key_id, str) or not KEY_ID_PATTERN.fullmatch(key_id):
        raise KeyUnavailableError(
            f"{key_id!r} is not a key id (1-64 lowercase letters, digits, '.', '_', '-'); "
            "list the keys with `passerelle keys list`"
        )
    return key_id


class KekState(enum.StrEnum):
    CURRENT = "current"
    RETIRED = "retired"
    DESTROYED = "destroyed"


@dataclass(frozen=True, slots=True)
class KekInfo:
    """What a custody says about one KEK (never its bytes)."""

    key_id: str
    custody: str
    state: KekState
    created: datetime
    destroyed: datetime | None = None


class KeyCustody(Protocol):
    """Where the KEKs live and are used; implementations: ``FileCustody``, ``Pkcs11Custody``."""

    @property
    def kind(self) -> str:
        """``"file"`` or ``"pkcs11"``: what an auditor is told holds the keys."""
        ...

    def current_key_id(self) -> str:
        """The KEK new data keys are wrapped under; :class:`KeyUnavailableError` if none."""
        ...

    def create_key(self) -> str:
        """Make a new KEK the current one (the previous current one becomes retired)."""
        ...

    def wrap(self, key_id: str, data_key: bytes, context: bytes) -> bytes:
        """``data_key`` encrypted under KEK ``key_id``, bound to ``context``.

        Only a ``current`` or ``retired`` KEK wraps (rotation re-wraps under the current one);
        a destroyed or unknown one raises :class:`KeyUnavailableError`."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        """The data key back; :class:`TamperedDataError` if ``wrapped`` or ``context``
        were changed, :class:`KeyUnavailableError` if the KEK is destroyed or unknown."""
        ...

    def destroy_key(self, key_id: str) -> None:
        """Destroy KEK ``key_id`` for good (refused for the current KEK: rotate first)."""
        ...

    def keys(self) -> list[KekInfo]:
        """Every KEK this custody has held, destroyed ones included, oldest first."""
        ...
