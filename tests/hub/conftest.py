"""A real hub per test, on SQLite and on PostgreSQL, with a cast of users."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from passerelle import hub as H
from passerelle.hub import Hub, Principal
from tests.databases import DATABASES, fresh_database

TODAY = date(2026, 6, 1)


class Clock:
    """A settable clock so expiry is tested without waiting."""

    def __init__(self) -> None:
        self.now = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def set_day(self, day: date) -> None:
        self.now = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)


@dataclass
class Cast:
    hub: Hub
    clock: Clock
    admin: Principal
    steward: Principal
    steward2: Principal
    alice: Principal  # researcher
    bob: Principal  # researcher
    checker: Principal
    auditor: Principal
    operator: Principal
    tokens: dict[str, str]


def make_hub(directory: Path, database: str) -> tuple[Hub, str]:
    hub, issued = H.init_hub(directory, database=database, name="test-hub")
    return hub, issued.secret


@pytest.fixture(params=DATABASES)
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def cast(db_kind: str, tmp_path: Path) -> Iterator[Cast]:
    with fresh_database(db_kind, tmp_path) as url:
        hub, secret = make_hub(tmp_path / "hub", url)
        clock = Clock()
        hub.clock = clock
        admin = H.authenticate(hub, secret)
        tokens = {"admin": secret}
        people = {}
        for name, roles in [
            ("steward", "steward"),
            ("steward2", "steward"),
            ("alice", "researcher"),
            ("bob", "researcher"),
            ("checker", "output-checker"),
            ("auditor", "auditor"),
            ("operator", "operator"),
        ]:
            H.create_user(hub, admin, name, roles)
            tokens[name] = H.issue_token(hub, admin, user=name).secret
            people[name] = H.authenticate(hub, tokens[name])
        H.create_organization(hub, people["steward"], "750712184", "AP-HP", "hospital")
        yield Cast(hub, clock, admin, tokens=tokens, **people)
        hub.close()


def approved_project(
    c: Cast, *, by: Principal | None = None, end: date = date(2026, 12, 31)
) -> int:
    p = H.submit_project(
        c.hub,
        by or c.alice,
        title="Diabetes cohort",
        purpose="Outcomes after stay",
        legal_basis="MR-004",
        authorization_ref="CNIL-2026-042",
        start=date(2026, 1, 1),
        end=end,
    )
    H.change_status(c.hub, c.steward, p.id, "approve")
    return p.id


def dataset(c: Cast, name: str = "pmsi_stays", *, discoverable: bool = True) -> str:
    H.create_dataset(
        c.hub,
        c.steward,
        name=name,
        organization="750712184",
        classification="health-pseudonymized",
        discoverable=discoverable,
        schema=[{"name": "pseudonym", "type": "string"}, {"name": "dept", "type": "string"}],
    )
    return name
