"""Fresh hub databases for tests: SQLite files, or databases on the test PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

DATABASES = ("sqlite", "postgresql")
POSTGRES_VAR = "PASSERELLE_TEST_POSTGRES_URL"


def require_postgres() -> str:
    url = os.environ.get(POSTGRES_VAR)
    if url:
        return url
    message = f"PostgreSQL is not running ({POSTGRES_VAR} unset); start it with scripts/test.sh"
    if os.environ.get("PASSERELLE_REQUIRE_SERVERS") == "1":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of an empty database of ``kind``; PostgreSQL ones are dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    from sqlalchemy import create_engine, text

    server = require_postgres()
    name = f"hub_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
