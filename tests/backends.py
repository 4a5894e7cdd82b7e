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


SWIFT_CREATED: list[str] = []
"""The Swift containers this test session made (dropped at its end)."""


def drop_swift_containers() -> None:
    """Delete what the session made on Swift: objects (in bulk), then each container and
    its ``_segments`` twin. An RGW account holds 1000 containers, shared with the S3
    tests of every run on the same server."""
    if not SWIFT_CREATED or not os.environ.get("PASSERELLE_TEST_SWIFT_AUTH_URL"):
        return
    from urllib.parse import quote

    from swiftclient.client import Connection
    from swiftclient.exceptions import ClientException

    conn = Connection(
        authurl=os.environ["PASSERELLE_TEST_SWIFT_AUTH_URL"],
        user=os.environ["PASSERELLE_TEST_SWIFT_USER"],
        key=os.environ["PASSERELLE_TEST_SWIFT_KEY"],
        retries=1,
    )
    for name in [*(f"{n}_segments" for n in SWIFT_CREATED), *SWIFT_CREATED]:
        try:
            names = [o["name"] for o in conn.get_container(name, full_listing=True)[1]]
            for start in range(0, len(names), 1000):
                body = "\n".join(quote(f"/{name}/{n}") for n in names[start : start + 1000])
                conn.post_account(
                    {"Content-Type": "text/plain", "Accept": "application/json"},
                    query_string="bulk-delete",
                    data=body.encode(),
                )
            conn.delete_container(name)
        except ClientException:
            continue  # never made (no large object), or already gone
    SWIFT_CREATED.clear()


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
    if backend == "swift":
        SWIFT_CREATED.append(name)
    open_store(url).create_container()
    return url
