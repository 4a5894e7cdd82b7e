"""Where endpoints and credentials come from: a TOML config file, then the environment.

The config file is ``$PASSERELLE_CONFIG`` or ``~/.config/passerelle/config.toml``::

    [defaults]
    s3 = "scaleway"          # remote used by s3:// URLs that name none
    az = "hdh-azure"

    [remotes.scaleway]
    type = "s3"
    endpoint = "https://s3.fr-par.scw.cloud"
    region = "fr-par"
    access_key_id = "SCW..."
    secret_access_key_env = "SCW_SECRET_KEY"   # or secret_access_key = "..."
    provider = "scaleway"                       # provider profile (see `passerelle providers`)

    [remotes.ovh-swift]
    type = "swift"
    auth_url = "https://auth.cloud.ovh.net/v3"
    auth_version = "3"                          # "1" (tempauth, Ceph RGW) or "3" (Keystone)
    user = "user-..."
    key_env = "OS_PASSWORD"                     # or key = "..."
    project_name = "1234..."
    user_domain_name = "Default"
    project_domain_name = "Default"
    region = "gra"                              # the provider profile's region (placement)
    region_name = "GRA"                         # the region as the Keystone catalog spells it
    large_objects = "auto"                      # "slo", "dlo" or "auto" (slo if /info has it)

    [remotes.hdh-azure]
    type = "az"
    account = "hdhprod"
    account_key_env = "AZURE_STORAGE_KEY"
    provider = "azure"
    region = "francecentral"

Without a remote, S3 URLs use ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY`` and ``AWS_REGION``; Azure URLs use
``AZURE_STORAGE_ACCOUNT_NAME``, ``AZURE_STORAGE_ACCOUNT_KEY`` and
``AZURE_STORAGE_ENDPOINT`` (or ``AZURE_STORAGE_USE_EMULATOR=true`` for Azurite);
Swift URLs use ``ST_AUTH``, ``ST_USER``, ``ST_KEY`` (auth v1) or the OpenStack
``OS_AUTH_URL``, ``OS_USERNAME``, ``OS_PASSWORD``, ``OS_PROJECT_NAME``,
``OS_USER_DOMAIN_NAME``, ``OS_PROJECT_DOMAIN_NAME``, ``OS_REGION_NAME`` (Keystone v3);
``PASSERELLE_SWIFT_REGION`` is the provider profile's region for placement.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from passerelle.errors import ConfigError

__all__ = ["RemoteConfig", "StorageConfig", "default_config_path", "load_config"]

AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass(frozen=True, slots=True)
class RemoteConfig:
    """Connection settings for one S3, Azure or Swift endpoint."""

    name: str
    type: str
    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    path_style: bool = True
    account: str | None = None
    account_key: str | None = None
    sas_token: str | None = None
    use_emulator: bool = False
    provider: str | None = None
    auth_url: str | None = None
    user: str | None = None
    key: str | None = None
    auth_version: str | None = None
    project_name: str | None = None
    project_id: str | None = None
    user_domain_name: str | None = None
    project_domain_name: str | None = None
    region_name: str | None = None
    storage_url: str | None = None
    large_objects: str = "auto"
    max_retries: int = 5
    retry_timeout_s: float = 60.0
    connect_timeout_s: float = 5.0
    request_timeout_s: float = 300.0

    @property
    def allow_http(self) -> bool:
        return bool(self.endpoint and self.endpoint.startswith("http://")) or self.use_emulator

    def redacted(self) -> dict[str, Any]:
        """Settings safe to print: secrets replaced by ``***``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRET_FIELDS and value:
                value = "***"
            out[f.name] = value
        return out


_SECRET_FIELDS = {"secret_access_key", "session_token", "account_key", "sas_token", "key"}
_TYPES = ("s3", "az", "swift")
_LARGE_OBJECTS = ("auto", "slo", "dlo")
_KNOWN = {f.name for f in fields(RemoteConfig)} - {"name"}


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """All remotes and per-scheme defaults, plus the environment to fall back on."""

    remotes: Mapping[str, RemoteConfig] = field(default_factory=dict)
    defaults: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None

    def remote_for(self, scheme: str, name: str | None) -> RemoteConfig:
        """The settings a store URL naming remote ``name`` (or none) uses."""
        if name is not None:
            remote = self.remotes.get(name)
            if remote is None:
                where = self.source or default_config_path(self.env)
                raise ConfigError(
                    f"No remote named {name!r} is configured; add [remotes.{name}] to {where}."
                )
            if remote.type != scheme:
                raise ConfigError(
                    f"Remote {name!r} is of type {remote.type!r}, not {scheme!r}; "
                    f"use {remote.type}://{name}@... or another remote."
                )
            return remote
        default = self.defaults.get(scheme)
        if default is not None:
            return self.remote_for(scheme, default)
        return _remote_from_env(scheme, self.env)


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("PASSERELLE_CONFIG"):
        return Path(env["PASSERELLE_CONFIG"])
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "passerelle" / "config.toml"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _swift_from_env(env: Mapping[str, str]) -> RemoteConfig:
    """Swift settings from the swift CLI's ST_* or OpenStack's OS_* variables."""
    v1 = bool(env.get("ST_AUTH"))
    return RemoteConfig(
        name="env",
        type="swift",
        auth_url=env.get("ST_AUTH") or env.get("OS_AUTH_URL"),
        user=env.get("ST_USER") if v1 else env.get("OS_USERNAME"),
        key=env.get("ST_KEY") if v1 else env.get("OS_PASSWORD"),
        auth_version=(
            env.get("ST_AUTH_VERSION")
            if v1
            else env.get("OS_AUTH_VERSION") or env.get("OS_IDENTITY_API_VERSION") or "3"
        ),
        project_name=None if v1 else env.get("OS_PROJECT_NAME") or env.get("OS_TENANT_NAME"),
        project_id=None if v1 else env.get("OS_PROJECT_ID"),
        user_domain_name=None if v1 else env.get("OS_USER_DOMAIN_NAME"),
        project_domain_name=None if v1 else env.get("OS_PROJECT_DOMAIN_NAME"),
        region=env.get("PASSERELLE_SWIFT_REGION"),
        region_name=env.get("OS_REGION_NAME"),
        storage_url=env.get("OS_STORAGE_URL"),
        provider=env.get("PASSERELLE_SWIFT_PROVIDER"),
    )


def _remote_from_env(scheme: str, env: Mapping[str, str]) -> RemoteConfig:
    if scheme == "swift":
        return _swift_from_env(env)
    if scheme == "s3":
        return RemoteConfig(
            name="env",
            type="s3",
            endpoint=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL"),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            access_key_id=env.get("AWS_ACCESS_KEY_ID"),
            secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
            session_token=env.get("AWS_SESSION_TOKEN"),
            path_style=not _truthy(env.get("AWS_VIRTUAL_HOSTED_STYLE_REQUEST")),
            provider=env.get("PASSERELLE_S3_PROVIDER"),
        )
    emulator = _truthy(env.get("AZURE_STORAGE_USE_EMULATOR"))
    account = env.get("AZURE_STORAGE_ACCOUNT_NAME") or (AZURITE_ACCOUNT if emulator else None)
    return RemoteConfig(
        name="env",
        type="az",
        endpoint=env.get("AZURE_STORAGE_ENDPOINT"),
        account=account,
        account_key=env.get("AZURE_STORAGE_ACCOUNT_KEY") or (AZURITE_KEY if emulator else None),
        sas_token=env.get("AZURE_STORAGE_SAS_TOKEN"),
        use_emulator=emulator,
        provider=env.get("PASSERELLE_AZURE_PROVIDER") or ("azure" if not emulator else None),
    )


def _parse_remote(
    name: str, table: Mapping[str, Any], env: Mapping[str, str], src: str
) -> RemoteConfig:
    if not isinstance(table, Mapping):
        raise ConfigError(f"[remotes.{name}] in {src} must be a table of settings.")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key.endswith("_env") and key[:-4] in _SECRET_FIELDS:
            target = key[:-4]
            if value not in env:
                raise ConfigError(
                    f"[remotes.{name}] reads {target} from ${value}, which is not set; export it."
                )
            values[target] = env[value]
        elif key in _KNOWN:
            values[key] = value
        else:
            raise ConfigError(f"Unknown setting {key!r} in [remotes.{name}] of {src}.")
    kind = values.get("type")
    if kind not in _TYPES:
        raise ConfigError(
            f'[remotes.{name}] in {src} needs type = "s3", type = "az" or type = "swift".'
        )
    if values.get("large_objects", "auto") not in _LARGE_OBJECTS:
        raise ConfigError(
            f'large_objects in [remotes.{name}] of {src} must be "auto", "slo" or "dlo".'
        )
    if "auth_version" in values:
        values["auth_version"] = str(values["auth_version"])
    try:
        return RemoteConfig(name=name, **values)
    except TypeError as exc:  # pragma: no cover - guarded by _KNOWN above
        raise ConfigError(f"[remotes.{name}] in {src} is invalid: {exc}.") from exc


def load_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> StorageConfig:
    """Read the config file (if it exists) and capture the environment."""
    env = dict(os.environ if env is None else env)
    explicit = path is not None or bool(env.get("PASSERELLE_CONFIG"))
    file = Path(path) if path is not None else default_config_path(env)
    if not file.exists():
        if explicit:
            raise ConfigError(f"The config file {file} does not exist; create it or fix the path.")
        return StorageConfig(env=env)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the config file {file}: {exc}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The config file {file} is not valid TOML ({exc}); fix it.") from exc
    src = str(file)
    remotes = {
        name: _parse_remote(name, table, env, src)
        for name, table in dict(data.get("remotes", {})).items()
    }
    defaults = {str(k): str(v) for k, v in dict(data.get("defaults", {})).items()}
    return StorageConfig(remotes=remotes, defaults=defaults, env=env, source=src)
