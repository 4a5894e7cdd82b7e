"""Parse store URLs and object keys (pure functions, no I/O).

Accepted forms::

    az://[remote@]container[/prefix]      Azure Blob (azure:// also accepted)
    s3://[remote@]bucket[/prefix]         any S3 service
    swift://[remote@]container[/prefix]   OpenStack Object Storage (Swift, Ceph RGW's Swift API)
    file:///absolute/path                 a local folder (plain paths accepted too)
    memory://name[/prefix]                an in-process store, shared by name

``remote`` names a ``[remotes.NAME]`` section of the config file that holds the
endpoint and credentials.  The path part is taken literally (no percent-decoding),
so keys may contain ``%``, ``+``, ``#`` and ``?`` as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from passerelle.errors import InvalidURLError, UnknownSchemeError
from passerelle.storage.keys import check_key, check_prefix

__all__ = ["StoreURL", "parse_store_url", "split_object_url", "validate_key"]

SCHEMES = ("az", "s3", "swift", "file", "memory")
SEGMENTS_SUFFIX = "_segments"
"""A Swift container ``C`` keeps the segments of its large objects in ``C_segments``."""
_ALIASES = {
    "azure": "az",
    "az": "az",
    "s3": "s3",
    "swift": "swift",
    "file": "file",
    "memory": "memory",
    "mem": "memory",
}
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_AZ_CONTAINER = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_SWIFT_CONTAINER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,244}$")
_MEMORY_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_REMOTE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed store URL.  ``container`` is the bucket, container, memory name or,
    for ``file``, the absolute folder path; ``prefix`` has no leading or trailing slash."""

    scheme: str
    container: str
    prefix: str = ""
    remote: str | None = None

    def __str__(self) -> str:
        if self.scheme == "file":
            path = self.container.rstrip("/") + ("/" + self.prefix if self.prefix else "")
            return "file://" + (path or "/")
        remote = f"{self.remote}@" if self.remote else ""
        tail = f"/{self.prefix}" if self.prefix else ""
        return f"{self.scheme}://{remote}{self.container}{tail}"

    def child(self, key: str) -> StoreURL:
        """The URL of ``key`` below this URL's prefix (``key`` is checked: it cannot climb)."""
        key = check_prefix(key, what="key")
        prefix = f"{self.prefix}/{key}" if self.prefix else key
        return StoreURL(self.scheme, self.container, prefix.strip("/"), self.remote)


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe object key, else raise :class:`UsageError`.

    The rule is :func:`passerelle.storage.keys.check_key`: no empty, ``.`` or ``..``
    segment, no leading or trailing ``/``, no backslash or control character, at
    most 1024 bytes -- the tricks that could escape a prefix or a local folder.
    """
    return check_key(key)


def _split_scheme(url: str) -> tuple[str, str]:
    if "://" not in url:
        if url.startswith(("/", "./", "../", "~")) or url in (".", ".."):
            return "file", url
        raise InvalidURLError(
            f"{url!r} is not a store URL; use az://, s3://, swift://, file:// or "
            "memory:// (or a local path starting with / or ./)."
        )
    scheme, rest = url.split("://", 1)
    normalized = _ALIASES.get(scheme.lower())
    if normalized is None:
        raise UnknownSchemeError(
            f"Unknown store scheme {scheme + '://'!r} in {url!r}; "
            "use az://, s3://, swift://, file:// or memory://."
        )
    return normalized, rest


def parse_store_url(url: str, *, cwd: str | None = None) -> StoreURL:
    """Parse ``url`` into a :class:`StoreURL` or raise :class:`InvalidURLError`."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidURLError("The store URL is empty; give one such as s3://bucket/prefix.")
    if _CONTROL.search(url):
        raise InvalidURLError(f"The store URL {url!r} contains control characters.")
    scheme, rest = _split_scheme(url.strip())
    if scheme == "file":
        return _parse_file(rest, url, cwd)
    authority, _, path = rest.partition("/")
    remote, at, container = authority.rpartition("@")
    if not at:
        remote = ""
    if remote and not _REMOTE.fullmatch(remote):
        raise InvalidURLError(f"{remote!r} in {url!r} is not a valid remote name.")
    prefix = path.strip("/")
    if prefix:
        validate_key(prefix)
    if scheme == "memory":
        container = container or "default"
        if not _MEMORY_NAME.fullmatch(container):
            raise InvalidURLError(f"{container!r} is not a valid memory store name in {url!r}.")
    elif not container:
        kind = "bucket" if scheme == "s3" else "container"
        raise InvalidURLError(f"The URL {url!r} names no {kind}; use {scheme}://{kind}/prefix.")
    elif scheme == "s3" and (not _S3_BUCKET.fullmatch(container) or ".." in container):
        raise InvalidURLError(
            f"{container!r} is not a valid S3 bucket name: use 3-63 lowercase letters, "
            "digits, dots or hyphens."
        )
    elif scheme == "swift":
        _check_swift_container(container, url)
    elif scheme == "az" and not _AZ_CONTAINER.fullmatch(container):
        raise InvalidURLError(
            f"{container!r} is not a valid Azure container name: use 3-63 lowercase letters, "
            "digits or single hyphens."
        )
    return StoreURL(scheme, container, prefix, remote or None)


def _check_swift_container(container: str, url: str) -> None:
    if not _SWIFT_CONTAINER.fullmatch(container) or ".." in container:
        raise InvalidURLError(
            f"{container!r} is not a valid Swift container name here: use 1-245 ASCII "
            "letters, digits, dots, hyphens or underscores, starting with a letter or digit."
        )
    if container.endswith(SEGMENTS_SUFFIX):
        raise InvalidURLError(
            f"The container {container!r} in {url!r} ends with {SEGMENTS_SUFFIX!r}, the name "
            "passerelle keeps for the segments of large objects; use the data container."
        )


def _parse_file(rest: str, url: str, cwd: str | None) -> StoreURL:
    if "://" in url and not rest.startswith("/"):
        raise InvalidURLError(f"{url!r} is not an absolute file URL; write file:///absolute/path.")
    raw = rest
    if raw.startswith("~"):
        import os.path

        raw = os.path.expanduser(raw)
    if not raw.startswith("/"):
        import os

        raw = os.path.join(cwd or os.getcwd(), raw)
    parts: list[str] = []
    for segment in PurePosixPath(raw).parts[1:]:
        if segment == "..":
            if parts:
                parts.pop()
        elif segment not in ("", "."):
            parts.append(segment)
    return StoreURL("file", "/" + "/".join(parts), "", None)


def split_object_url(url: str) -> tuple[StoreURL, str]:
    """Split an object URL into the URL of its parent store and the object's key."""
    parsed = parse_store_url(url)
    if parsed.scheme == "file":
        parent, _, name = parsed.container.rpartition("/")
        if not name:
            raise InvalidURLError(f"{url!r} names a folder, not an object.")
        return StoreURL("file", parent or "/", "", None), name
    if not parsed.prefix:
        raise InvalidURLError(f"{url!r} names a bucket or container, not an object.")
    return StoreURL(parsed.scheme, parsed.container, "", parsed.remote), parsed.prefix
