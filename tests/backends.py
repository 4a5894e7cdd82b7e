"""Helpers to reach the storage backends under test (servers come from the environment)."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from passerelle.storage import open_store

SERVER_BACKENDS = {
    "azurite": "PASSERELLE_TEST_AZURE_ENDPOINT",
    "ceph": "PASSERELLE_TEST_CEPH_ENDPOINT",
    "seaweedfs": "PASSERELLE_TEST_SEAWEED_ENDPOINT",
    "swift": "PASSERELLE_TEST_SWIFT_AUTH_URL",
}
ALL_BACKENDS = ("memory", "file", *SERVER_BACKENDS)
REMOTE_OF = {"azurite": "azurite", "ceph": "ceph", "seaweedfs": "seaweed", "swift": "swift"}
SCHEME_OF = {"azurite": "az", "ceph": "s3", "seaweedfs": "s3", "swift": "swift"}


def require_backend(name: str) -> None:
    """Skip (locally) or fail (CI) when a server backend is not running."""
    var = SERVER_BACKENDS.get(name)
    if var is None or os.environ.get(var):
        return
    message = f"{name} is not running ({var} unset); start it with scripts/test.sh"
    if os.environ.get("PASSERELLE_REQUIRE_SERVERS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def closed_port() -> int:
    """A local TCP port nothing listens on (an unreachable endpoint)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:12]}"


def new_store_url(backend: str, tmp_path: Path, stem: str = "t") -> str:
    """URL of a fresh, empty store on ``backend`` (its container is created)."""
    require_backend(backend)
    name = unique_name(stem)
    if backend == "memory":
        url = f"memory://{name}"
    elif backend == "file":
        url = f"file://{tmp_path / name}"
    else:
        url = f"{SCHEME_OF[backend]}://{REMOTE_OF[backend]}@{name}"
    open_store(url).create_container()
    return url
