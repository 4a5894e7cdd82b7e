"""A real hub behind the real ASGI app, on SQLite and on PostgreSQL.

The PostgreSQL variant needs ``PASSERELLE_TEST_POSTGRES_URL`` (start a server with
``scripts/servers/postgres.sh``); each test gets its own fresh database on that
server, dropped afterwards. Without the variable the variant is skipped, or fails
when ``PASSERELLE_REQUIRE_SERVERS=1``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from passerelle.api import create_app
from passerelle.hub import Hub, init_hub

POSTGRES_VAR = "PASSERELLE_TEST_POSTGRES_URL"
DATABASES = ("sqlite", "postgresql")
SQLITE_ONLY = pytest.mark.parametrize("seeded_hub", ["sqlite"], indirect=True)
"""For request checks the database never sees (validation, routing): SQLite is enough."""


def require_postgres() -> str:
    url = os.environ.get(POSTGRES_VAR)
    if url:
        return url
    message = f"PostgreSQL is not running ({POSTGRES_VAR} unset); start scripts/servers/postgres.sh"
    if os.environ.get("PASSERELLE_REQUIRE_SERVERS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _admin_url(url: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/postgres"


def fresh_postgres_database(url: str) -> tuple[str, str]:
    """Create a uniquely named database on the server of ``url``; return (its URL, its name)."""
    from sqlalchemy import create_engine, text

    name = f"h4_{uuid.uuid4().hex[:16]}"
    engine = create_engine(_admin_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}", name


def drop_postgres_database(url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(_admin_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Seed:
    """A hub made once per session, copied for each test (a SQLite file or a PostgreSQL template)."""

    directory: Path
    tokens: dict[str, str]
    database: str | None = None  # the template database's name on PostgreSQL


PEOPLE = {
    "stella": ("steward",),
    "simon": ("steward",),
    "rita": ("researcher",),
    "remy": ("researcher",),
    "aude": ("auditor",),
}


def _seed(directory: Path, database: str | None) -> dict[str, str]:
    """A new hub with an admin, two stewards, two researchers and an auditor; their tokens."""
    from passerelle.hub import authenticate, create_user, issue_token

    hub, issued = init_hub(directory, database=database)
    try:
        tokens = {"admin": issued.secret}
        admin = authenticate(hub, issued.secret)
        for name, roles in PEOPLE.items():
            create_user(hub, admin, name, list(roles))
            tokens[name] = issue_token(hub, admin, user=name, label="tests").secret
        return tokens
    finally:
        hub.close()


@pytest.fixture(scope="session")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Seed]]:
    made: dict[str, Seed] = {}
    yield made
    server = os.environ.get(POSTGRES_VAR)
    for seed in made.values():
        if seed.database and server:
            drop_postgres_database(server, seed.database)


def _seed_for(kind: str, seeds: dict[str, Seed], factory: pytest.TempPathFactory) -> Seed:
    if kind not in seeds:
        directory = factory.mktemp(f"seed-{kind}") / "hub"
        if kind == "sqlite":
            seeds[kind] = Seed(directory, _seed(directory, None))
        else:
            url, name = fresh_postgres_database(require_postgres())
            seeds[kind] = Seed(directory, _seed(directory, url), name)
    return seeds[kind]


@pytest.fixture(params=DATABASES)
def seeded_hub(
    request: pytest.FixtureRequest,
    seeds: dict[str, Seed],
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh copy of the seeded hub: its folder and the people's tokens."""
    import shutil

    kind = str(request.param)
    if kind == "postgresql":
        require_postgres()
    seed = _seed_for(kind, seeds, tmp_path_factory)
    directory = tmp_path / "hub"
    shutil.copytree(seed.directory, directory)
    if seed.database is None:
        yield directory, seed.tokens
        return
    from sqlalchemy import create_engine, text

    server = require_postgres()
    name = f"h4_{uuid.uuid4().hex[:16]}"
    engine = create_engine(_admin_url(server), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{seed.database}"'))
    finally:
        engine.dispose()
    config = directory / "hub.toml"
    template_url = server.rpartition("/")[0] + "/" + seed.database
    copy_url = server.rpartition("/")[0] + "/" + name
    config.write_text(config.read_text().replace(template_url, copy_url))
    try:
        yield directory, seed.tokens
    finally:
        drop_postgres_database(server, name)


@dataclass
class Api:
    """The app's test client plus the hub and the tokens of the people in the story."""

    client: TestClient
    hub: Hub
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}

    def call(self, method: str, path: str, who: str | None, **kwargs: Any) -> Any:
        return self.client.request(method, path, headers=self.headers(who), **kwargs)

    def get(self, path: str, who: str | None, **kwargs: Any) -> Any:
        return self.call("GET", path, who, **kwargs)

    def post(self, path: str, who: str | None, **kwargs: Any) -> Any:
        return self.call("POST", path, who, **kwargs)

    def ok(self, method: str, path: str, who: str | None, **kwargs: Any) -> Any:
        """Call and insist on success; the JSON body."""
        response = self.call(method, path, who, **kwargs)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json()

    def add_user(self, name: str, *roles: str) -> None:
        self.ok("POST", "/users", "admin", json={"name": name, "roles": list(roles)})
        issued = self.ok("POST", "/tokens", "admin", json={"user": name, "label": "tests"})
        self.tokens[name] = issued["secret"]


@pytest.fixture
def api(seeded_hub: tuple[Path, dict[str, str]]) -> Iterator[Api]:
    """The app on a fresh hub with an admin, two stewards, two researchers and an auditor."""
    directory, tokens = seeded_hub
    hub = Hub.open(directory)
    try:
        with TestClient(create_app(hub)) as client:
            yield Api(client, hub, dict(tokens))
    finally:
        hub.close()


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The one error body: ``{"error": {"status", "code", "message"[, "fields" | "reason"]}}``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) - {"fields", "reason"} == {"status", "code", "message"}, error
    assert error["status"] == status
    assert error["code"] == code
    message = error["message"]
    assert isinstance(message, str) and message and "\n" not in message
    assert "Traceback" not in message
    return dict(error)


@pytest.fixture(scope="session")
def synth_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic population's extracts (stays.csv, claims.parquet, fhir/), made once."""
    from passerelle.synth import synthesize

    out = tmp_path_factory.mktemp("synth")
    synthesize(out, persons=300, seed=5, defect_rate=0.02, fhir_fraction=0.3)
    return out
