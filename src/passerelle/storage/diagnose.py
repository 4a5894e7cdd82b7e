"""``stores check``: can we reach, authenticate to and list a store, and what is it?"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from passerelle.errors import (
    AuthenticationError,
    ContainerNotFoundError,
    EndpointUnreachableError,
    PasserelleError,
    PermissionDeniedError,
)
from passerelle.storage.config import StorageConfig, load_config
from passerelle.storage.model import Capabilities, PartLimits
from passerelle.storage.opener import open_store, resolve_remote
from passerelle.storage.urls import parse_store_url

__all__ = ["StoreCheck", "check_store"]


@dataclass(frozen=True, slots=True)
class StoreCheck:
    """The outcome of probing one store; ``problem`` is ``None`` when all is well."""

    url: str
    reachable: bool
    authenticated: bool
    container_exists: bool
    listed: int
    latency_ms: float
    capabilities: Capabilities
    limits: PartLimits
    provider: str | None
    region: str | None
    problem: PasserelleError | None = None
    endpoint: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_store(url: str, *, config: StorageConfig | None = None) -> StoreCheck:
    """Probe ``url`` with one listing page and report what works."""
    parsed = parse_store_url(url)
    region = endpoint = None
    if parsed.scheme in ("s3", "az", "swift"):
        config = config if config is not None else load_config()
        remote, _provider, region = resolve_remote(parsed, config)
        endpoint = (
            remote.endpoint
            or remote.storage_url
            or remote.auth_url
            or ("(emulator)" if remote.use_emulator else None)
        )
    store = open_store(parsed, config=config)
    started = time.perf_counter()
    reachable = authenticated = exists = True
    listed = 0
    problem: PasserelleError | None = None
    try:
        for _ in store.list(page_size=10):
            listed += 1
            if listed >= 10:
                break
    except EndpointUnreachableError as exc:
        reachable = authenticated = exists = False
        problem = exc
    except (AuthenticationError, PermissionDeniedError) as exc:
        authenticated = exists = False
        problem = exc
    except ContainerNotFoundError as exc:
        exists = False
        problem = exc
    except PasserelleError as exc:
        problem = exc
    latency = (time.perf_counter() - started) * 1000
    return StoreCheck(
        url=store.url,
        reachable=reachable,
        authenticated=authenticated,
        container_exists=exists,
        listed=listed,
        latency_ms=latency,
        capabilities=store.capabilities,
        limits=store.limits,
        provider=store.provider,
        region=region,
        problem=problem,
        endpoint=endpoint,
    )
