"""Open a :class:`Store` from a URL: the only place that knows which backend is which."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from passerelle.errors import ConfigError, PasserelleError
from passerelle.storage.config import RemoteConfig, StorageConfig, load_config
from passerelle.storage.model import Capabilities, GiB, MiB, PartLimits, TiB
from passerelle.storage.obstore_backend import BackendSpec, ObstoreStore
from passerelle.storage.urls import StoreURL, parse_store_url

if TYPE_CHECKING:
    from passerelle.storage.swift_backend import SwiftStore

__all__ = ["open_store", "resolve_remote", "store_location"]

_S3_LIMITS = PartLimits(5 * MiB, 5 * GiB, 10_000, 5 * TiB, 5 * GiB)
_AZ_LIMITS = PartLimits(1, 4000 * MiB, 50_000, 190 * TiB, 5000 * MiB)
_LOCAL_LIMITS = PartLimits(1, 1 << 40, 1_000_000, 1 << 50, 1 << 40)

_CLOUD_CAPS = Capabilities(
    server_side_copy=True,
    user_metadata=True,
    conditional_get=True,
    create_container=True,
    multipart_upload=True,
    resumable_upload=True,
    conditional_metadata=True,
)
_AZURE_CAPS = replace(_CLOUD_CAPS, list_details=True)
_FILE_CAPS = Capabilities(
    server_side_copy=True,
    user_metadata=True,
    conditional_get=True,
    create_container=True,
    conditional_metadata=True,
)
_MEMORY_CAPS = Capabilities(
    server_side_copy=True,
    user_metadata=True,
    conditional_get=True,
    create_container=True,
    persistent=False,
    conditional_metadata=True,
)

_memory_stores: dict[str, Any] = {}
_memory_lock = threading.Lock()


def _memory_store(name: str) -> Any:
    from obstore.store import MemoryStore

    with _memory_lock:
        if name not in _memory_stores:
            _memory_stores[name] = MemoryStore()
        return _memory_stores[name]


def _client_options(remote: RemoteConfig) -> dict[str, Any]:
    return {
        "allow_http": remote.allow_http,
        "connect_timeout": f"{remote.connect_timeout_s}s",
        "timeout": f"{remote.request_timeout_s}s",
        "pool_idle_timeout": "30s",
    }


def _retry_config(remote: RemoteConfig) -> dict[str, Any]:
    return {
        "max_retries": remote.max_retries,
        "retry_timeout": timedelta(seconds=remote.retry_timeout_s),
        "backoff": {
            "init_backoff": timedelta(milliseconds=100),
            "max_backoff": timedelta(seconds=15),
            "base": 2,
        },
    }


def resolve_remote(
    url: StoreURL, config: StorageConfig
) -> tuple[RemoteConfig, str | None, str | None]:
    """The remote settings, provider name and region that ``url`` uses.

    A public endpoint names its provider (and often its region): a remote declaring another
    is refused rather than believed, since the placement policy decides on these two values.
    Only an endpoint no provider is known by (a private or local one) is taken at the
    operator's word."""
    from passerelle.providers import infer_provider

    remote = config.remote_for(url.scheme, url.remote)
    guessed, guessed_region = infer_provider(_public_address(remote))
    _check_declared_place(remote, guessed, guessed_region)
    provider = remote.provider or guessed
    region = remote.region or (guessed_region if provider == guessed else None)
    return remote, provider, region


def _public_address(remote: RemoteConfig) -> str | None:
    """The address that names a remote's provider: its endpoint, or Swift's auth URL."""
    return remote.endpoint or remote.storage_url or remote.auth_url


def _check_declared_place(
    remote: RemoteConfig, guessed: str | None, guessed_region: str | None
) -> None:
    """Refuse a declared provider or region that the remote's public endpoint contradicts."""
    where = f"[remotes.{remote.name}]" if remote.name != "env" else "the environment"
    if guessed is not None and remote.provider is not None and remote.provider != guessed:
        raise ConfigError(
            f"{where} declares provider {remote.provider!r} but its endpoint "
            f"{_public_address(remote)} is {guessed}'s; remove the provider line or use an "
            f"endpoint of {remote.provider}."
        )
    if guessed_region is not None and remote.region is not None and remote.region != guessed_region:
        raise ConfigError(
            f"{where} declares region {remote.region!r} but its endpoint {_public_address(remote)} "
            f"serves {guessed_region}; remove the region line or use that region's endpoint."
        )


def store_location(
    url: str | StoreURL, config: StorageConfig | None = None
) -> tuple[str | None, str | None]:
    """(provider profile name, region) of the store at ``url``."""
    parsed = url if isinstance(url, StoreURL) else parse_store_url(url)
    if parsed.scheme in ("file", "memory"):
        return "local", "this-machine"
    config = config if config is not None else load_config()
    _remote, provider, region = resolve_remote(parsed, config)
    return provider, region


def _limits_for(provider: str | None, default: PartLimits) -> PartLimits:
    if provider is None:
        return default
    from passerelle.providers import load_profiles

    try:
        profile = load_profiles().get(provider)
    except PasserelleError:
        return default
    return profile.limits if profile is not None else default


def _s3_factory(url: StoreURL, remote: RemoteConfig) -> Any:
    if not remote.access_key_id or not remote.secret_access_key:
        where = (
            f"[remotes.{remote.name}]"
            if remote.name != "env"
            else "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
        )
        raise ConfigError(f"No S3 credentials for {url}; set them in {where}.")

    def make() -> Any:
        from obstore.store import S3Store

        kwargs: dict[str, Any] = {
            "region": remote.region or "us-east-1",
            "access_key_id": remote.access_key_id,
            "secret_access_key": remote.secret_access_key,
            "virtual_hosted_style_request": not remote.path_style,
        }
        if remote.endpoint:
            kwargs["endpoint"] = remote.endpoint
        if remote.session_token:
            kwargs["token"] = remote.session_token
        return S3Store(
            url.container,
            client_options=_client_options(remote),  # type: ignore[arg-type]
            retry_config=_retry_config(remote),  # type: ignore[arg-type]
            **kwargs,
        )

    return make


def _azure_factory(url: StoreURL, remote: RemoteConfig) -> Any:
    if not remote.account or not (remote.account_key or remote.sas_token):
        where = (
            f"[remotes.{remote.name}]"
            if remote.name != "env"
            else ("AZURE_STORAGE_ACCOUNT_NAME / AZURE_STORAGE_ACCOUNT_KEY")
        )
        raise ConfigError(f"No Azure account or key for {url}; set them in {where}.")

    def make() -> Any:
        from obstore.store import AzureStore

        kwargs: dict[str, Any] = {"account_name": remote.account}
        if remote.account_key:
            kwargs["access_key"] = remote.account_key
        if remote.sas_token:
            kwargs["sas_key"] = remote.sas_token
        if remote.endpoint:
            kwargs["endpoint"] = remote.endpoint
        elif remote.use_emulator:
            kwargs["use_emulator"] = True
        return AzureStore(
            url.container,
            client_options=_client_options(remote),  # type: ignore[arg-type]
            retry_config=_retry_config(remote),  # type: ignore[arg-type]
            **kwargs,
        )

    return make


def open_store(
    url: str | StoreURL, *, config: StorageConfig | None = None
) -> ObstoreStore | SwiftStore:
    """Open the store at ``url`` (``az://``, ``s3://``, ``swift://``, ``file://``, ``memory://``).

    Nothing is contacted yet: the first operation connects.  Endpoints and
    credentials come from ``config`` (default: :func:`load_config`).
    """
    parsed = url if isinstance(url, StoreURL) else parse_store_url(url)
    if parsed.scheme == "memory":
        spec = BackendSpec("memory", _MEMORY_CAPS, _LOCAL_LIMITS)
        return ObstoreStore(
            str(parsed),
            lambda: _memory_store(parsed.container),
            spec,
            prefix=parsed.prefix,
            provider="local",
        )
    if parsed.scheme == "file":
        root = parsed.container

        def make_local() -> Any:
            from obstore.store import LocalStore

            return LocalStore(root)

        spec = BackendSpec(
            "file", _FILE_CAPS, _LOCAL_LIMITS, metadata_in_xattr=True, local_root=root
        )
        return ObstoreStore(str(parsed), make_local, spec, provider="local")
    config = config if config is not None else load_config()
    remote, provider, _region = resolve_remote(parsed, config)
    if parsed.scheme == "swift":
        from passerelle.storage.swift_backend import SwiftStore

        return SwiftStore(
            str(parsed), remote, parsed.container, prefix=parsed.prefix, provider=provider
        )
    if parsed.scheme == "s3":
        from passerelle.storage.admin import S3Admin

        spec = BackendSpec("s3", _CLOUD_CAPS, _limits_for(provider, _S3_LIMITS))
        return ObstoreStore(
            str(parsed),
            _s3_factory(parsed, remote),
            spec,
            prefix=parsed.prefix,
            provider=provider,
            admin=S3Admin(remote, parsed.container),
        )
    from passerelle.storage.admin import AzureAdmin

    spec = BackendSpec("az", _AZURE_CAPS, _limits_for(provider, _AZ_LIMITS))
    return ObstoreStore(
        str(parsed),
        _azure_factory(parsed, remote),
        spec,
        prefix=parsed.prefix,
        provider=provider,
        admin=AzureAdmin(remote, parsed.container),
    )
