"""The custody a hub's settings name, opened (the key file, or a PKCS#11 token)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from passerelle.errors import ConfigError
from passerelle.keys.custody import KeyCustody
from passerelle.keys.file_custody import FileCustody

__all__ = ["CustodySettings", "open_custody"]


class CustodySettings(Protocol):
    """The settings ``open_custody`` reads (``HubConfig`` has them)."""

    @property
    def directory(self) -> Path: ...
    @property
    def name(self) -> str: ...
    @property
    def custody(self) -> str: ...
    @property
    def kek_file(self) -> str: ...
    @property
    def pkcs11_module(self) -> str: ...
    @property
    def pkcs11_token(self) -> str: ...
    @property
    def pkcs11_pin_env(self) -> str: ...


def open_custody(settings: CustodySettings) -> KeyCustody:
    """``FileCustody`` over ``kek_file``, or ``Pkcs11Custody`` over the named token."""
    if settings.custody == "file":
        return FileCustody((settings.directory / settings.kek_file).resolve())
    if settings.custody == "pkcs11":
        from passerelle.keys.pkcs11_custody import Pkcs11Custody

        pin = os.environ.get(settings.pkcs11_pin_env)
        if not pin:
            raise ConfigError(
                f"the HSM's user PIN is not set: put it in ${settings.pkcs11_pin_env} "
                "(pkcs11_pin_env in hub.toml names that variable)"
            )
        return Pkcs11Custody(  # the hub's name keeps its keys apart from other hubs' on the token
            settings.pkcs11_module, settings.pkcs11_token, pin, namespace=settings.name
        )
    raise ConfigError(f'custody must be "file" or "pkcs11", not {settings.custody!r}')
