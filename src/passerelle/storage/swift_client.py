"""Connections to an OpenStack Object Storage (Swift) account, and its errors in our tree.

python-swiftclient's ``Connection`` holds one HTTP connection and is not thread-safe, so
each thread gets its own; they share nothing but the settings (each authenticates once,
and again by itself when its token expires).  Auth v1 (tempauth, as Ceph RGW serves it)
needs ``auth_url``, ``user`` and ``key``; Keystone v3 adds the project and domains, which
are passed to swiftclient as its ``os_options``.  ``/info`` (the cluster's capabilities:
``slo``, ``max_file_size``, ``max_manifest_segments``...) is read once and cached.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from passerelle.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    ContainerNotFoundError,
    LimitExceededError,
    ObjectNotFoundError,
    PasserelleError,
    PermissionDeniedError,
    PreconditionFailedError,
    ServiceError,
    TerminalError,
    ThrottledError,
    UsageError,
)
from passerelle.storage.config import RemoteConfig
from passerelle.storage.model import GiB, MiB, PartLimits
from passerelle.storage.translate import translate

__all__ = ["SwiftSession", "connection_options", "limits_from_info", "swift_error"]

T = TypeVar("T")

SWIFT_DEFAULT_LIMITS = PartLimits(MiB, 5 * GiB, 1000, 1000 * 5 * GiB, 5 * GiB)
"""Swift's documented defaults: 5 GiB objects, 1000 segments per manifest."""


def connection_options(remote: RemoteConfig) -> dict[str, Any]:
    """swiftclient ``Connection`` keywords for ``remote`` (pure; secrets included)."""
    if not remote.auth_url or not remote.user or not remote.key:
        where = f"[remotes.{remote.name}]" if remote.name != "env" else "ST_AUTH / ST_USER / ST_KEY"
        raise ConfigError(f"No Swift auth_url, user or key for {where}; set all three.")
    version = str(remote.auth_version or "1")
    if version not in ("1", "1.0", "2", "2.0", "3"):
        raise ConfigError(
            f'auth_version {version!r} in [remotes.{remote.name}] is not "1" or "3"; fix it.'
        )
    os_options: dict[str, str] = {}
    for option, value in (
        ("project_name", remote.project_name),
        ("project_id", remote.project_id),
        ("user_domain_name", remote.user_domain_name),
        ("project_domain_name", remote.project_domain_name),
        ("region_name", remote.region_name or remote.region),
        ("object_storage_url", remote.storage_url),
    ):
        if value:
            os_options[option] = value
    options: dict[str, Any] = {
        "authurl": remote.auth_url,
        "user": remote.user,
        "key": remote.key,
        "auth_version": version,
        "retries": remote.max_retries,
        "starting_backoff": 0.1,
        "max_backoff": 15,
        "timeout": remote.request_timeout_s,
        "os_options": os_options,
    }
    if remote.storage_url:
        options["preauthurl"] = remote.storage_url
    return options


def limits_from_info(info: Mapping[str, Any]) -> PartLimits:
    """Part limits from a cluster's ``/info`` (pure; Swift's defaults for what it omits)."""
    swift = info.get("swift") or {}
    slo = info.get("slo") or {}
    max_file = int(swift.get("max_file_size") or SWIFT_DEFAULT_LIMITS.max_single_put)
    max_parts = int(
        slo.get("max_manifest_segments") or swift.get("container_listing_limit") or 1000
    )
    min_segment = int(slo.get("min_segment_size") or 1)
    return PartLimits(
        min_part_size=max(1, min_segment),
        max_part_size=max_file,
        max_parts=max_parts,
        max_object_size=max_parts * max_file,
        max_single_put=max_file,
    )


class SwiftSession:
    """Per-thread swiftclient connections to one account, built lazily."""

    def __init__(self, remote: RemoteConfig, url: str) -> None:
        self._options = connection_options(remote)
        self._keystone = self._options["auth_version"] in ("2", "2.0", "3")
        self._url = url
        self._local = threading.local()
        self._info: dict[str, Any] | None = None
        self._info_lock = threading.Lock()

    @property
    def conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._keystone:
                try:
                    import keystoneclient  # noqa: F401
                except ImportError:
                    raise ConfigError(
                        "Keystone auth (auth_version 2 or 3) needs python-keystoneclient; "
                        "install passerelle[keystone], or use auth v1 (tempauth)."
                    ) from None
            conn = _connection_class()(**self._options)
            self._local.conn = conn
        return conn

    def info(self) -> dict[str, Any]:
        """The cluster's ``/info`` ({} when the cluster hides it)."""
        with self._info_lock:
            if self._info is None:
                try:
                    self._info = dict(self.conn.get_capabilities())
                except Exception as exc:  # /info is optional in Swift: the defaults then
                    status = getattr(exc, "http_status", None)
                    if status in (403, 404, 405, 501):  # hidden for good: do not ask again
                        self._info = {}
                    return {}
            return self._info

    def call(
        self, op: str, key: str | None, fn: Callable[[Any], T], *, container: bool = False
    ) -> T:
        """Run ``fn(connection)``; swiftclient errors become passerelle errors."""
        try:
            return fn(self.conn)
        except PasserelleError:
            raise
        except Exception as exc:
            raise swift_error(exc, url=self._url, op=op, key=key, container=container) from exc


@functools.cache
def _connection_class() -> Any:
    """swiftclient's ``Connection``, keeping a configured storage URL after each auth
    (auth v1 would otherwise replace it with the one the auth service returns)."""
    from swiftclient.client import Connection

    class PinnedConnection(Connection):  # type: ignore[misc]
        def get_auth(self) -> tuple[str, str]:
            url, token = super().get_auth()
            return self.os_options.get("object_storage_url") or url, token

    return PinnedConnection


def _body(exc: Any) -> str:
    content = getattr(exc, "http_response_content", None)
    if isinstance(content, bytes):
        return content[:300].decode("utf-8", "replace")
    return str(content or "")[:300]


def swift_error(
    exc: BaseException, *, url: str, op: str, key: str | None, container: bool = False
) -> PasserelleError:
    """Our error for a swiftclient exception (``container``: a container-level request)."""
    status = getattr(exc, "http_status", None)
    if status is None:  # no HTTP answer: connection refused, timeouts...
        return translate(exc, url=url, op=op, key=key)
    target = f"{url}/{key}" if key else url
    message = str(getattr(exc, "msg", "") or "")
    body = _body(exc)
    if message.startswith("Auth") or status == 401:
        return AuthenticationError(
            f"The Swift service of {url} rejected the credentials; check the user and key "
            "(and the project for Keystone) in your config or environment."
        )
    if status == 404:
        if container or "NoSuchBucket" in body:
            return ContainerNotFoundError(
                f"The container of {url} does not exist; create it "
                "(`passerelle stores create URL`) or fix the URL."
            )
        return ObjectNotFoundError(
            f"No object at {target}; check the key with `passerelle ls {url}`."
        )
    kinds: dict[int, type[PasserelleError]] = {
        403: PermissionDeniedError,
        409: ConflictError,
        412: PreconditionFailedError,
        413: LimitExceededError,
        416: UsageError,
        422: ServiceError,  # the bytes did not match the etag sent: damaged on the way, resend
        429: ThrottledError,
        498: ThrottledError,
        503: ThrottledError,
    }
    kind = kinds.get(status) or (ServiceError if status >= 500 else TerminalError)
    texts = {
        PermissionDeniedError: f"Permission denied to {op} {target}; ask for access or use "
        "other credentials.",
        PreconditionFailedError: f"{target} changed while it was being read or written; try again.",
        LimitExceededError: f"{target} is larger than the Swift service of {url} accepts "
        f"({status}); split it or choose another destination.",
        UsageError: f"The range asked of {target} is outside the object ({status}).",
        ThrottledError: f"{url} kept throttling requests (status {status}) after all retries; "
        "lower the request rate or concurrency, or try again later.",
        ServiceError: f"The Swift service of {url} failed to {op} {target} (status {status}); "
        "try again later.",
        ConflictError: f"Cannot {op} {target}: it conflicts with the container's state "
        f"(status {status}).",
    }
    return kind(texts.get(kind, f"Cannot {op} {target}: status {status} {body[:80]}."))
