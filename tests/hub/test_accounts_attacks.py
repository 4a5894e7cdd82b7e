"""Accounts under attack, through the library on SQLite and PostgreSQL.

Token lifetimes (the cap, the parent), revocation of a lineage, a flood of bad
tokens from one address, and "not found" that reads the same for hidden and
missing things.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from passerelle import hub as H
from passerelle.errors import (
    AuthenticationError,
    AuthenticationThrottled,
    NotFoundError,
    UsageError,
)
from passerelle.hub.accounts import auth_limiter, flush_auth_floods
from passerelle.hub.audit import list_events
from passerelle.hub.tables import Token
from tests.hub.conftest import Cast, approved_project


def _auth_events(c: Cast) -> list[dict[str, object]]:
    events = list_events(c.hub, c.auditor, H.AuditFilter(actor="anonymous"), limit=10_000)
    return [e for e in events if str(e["action"]).startswith("auth.")]


def test_the_cap_holds_for_admins_too(cast: Cast) -> None:
    cap = cast.hub.config.token_days
    with pytest.raises(UsageError, match=f"1 to {cap} days"):
        H.issue_token(cast.hub, cast.admin, days=cap + 1)
    with pytest.raises(UsageError, match=f"1 to {cap} days"):
        H.issue_token(cast.hub, cast.admin, user="alice", days=3650)


def test_a_child_never_outlives_its_parent(cast: Cast) -> None:
    short = H.issue_token(cast.hub, cast.alice, label="short", days=3)
    via_short = H.authenticate(cast.hub, short.secret)
    assert via_short.token_id == short.token.id
    with pytest.raises(UsageError, match="cannot outlive it"):
        H.issue_token(cast.hub, via_short, days=4)
    child = H.issue_token(cast.hub, via_short, label="child")
    assert child.token.expires_at == short.token.expires_at
    with cast.hub.transaction() as session:
        assert session.get_one(Token, child.token.id).parent_id == short.token.id
    cast.clock.now += timedelta(days=3, seconds=1)
    for secret in (short.secret, child.secret):
        with pytest.raises(AuthenticationError, match="expired"):
            H.authenticate(cast.hub, secret)


def test_revoking_a_parent_revokes_its_lineage(cast: Cast) -> None:
    first = H.issue_token(cast.hub, cast.bob, label="first")
    second = H.issue_token(cast.hub, H.authenticate(cast.hub, first.secret), label="second")
    third = H.issue_token(cast.hub, H.authenticate(cast.hub, second.secret), label="third")
    H.revoke_token(cast.hub, cast.bob, first.token.id)
    for issued in (first, second, third):
        with pytest.raises(AuthenticationError, match="revoked"):
            H.authenticate(cast.hub, issued.secret)
    assert H.authenticate(cast.hub, cast.tokens["bob"]).name == "bob"


def test_a_token_revoked_while_its_request_runs_mints_nothing(cast: Cast) -> None:
    """Race a revocation: the request authenticated before the token was revoked (or its
    parent, or its user disabled) and mints a child after; that child would escape the
    revocation of the lineage, which was computed before it existed."""
    stolen = H.issue_token(cast.hub, cast.bob, label="stolen")
    held = H.authenticate(cast.hub, stolen.secret)  # the request's principal
    H.revoke_token(cast.hub, cast.admin, stolen.token.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        H.issue_token(cast.hub, held, label="escape")
    parent = H.issue_token(cast.hub, cast.bob, label="parent")
    child = H.issue_token(cast.hub, H.authenticate(cast.hub, parent.secret), label="child")
    held = H.authenticate(cast.hub, child.secret)
    H.revoke_token(cast.hub, cast.admin, parent.token.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        H.issue_token(cast.hub, held, label="escape")
    held = H.authenticate(cast.hub, cast.tokens["bob"])
    H.update_user(cast.hub, cast.admin, "bob", active=False)
    with pytest.raises(AuthenticationError, match="disabled"):
        H.issue_token(cast.hub, held, label="escape")
    cast.clock.now += timedelta(days=cast.hub.config.token_days)  # the clock edge: expired now
    with pytest.raises(AuthenticationError, match="expired"):
        H.issue_token(cast.hub, cast.alice, label="late")
    with cast.hub.db.read() as session:
        assert session.query(Token).filter(Token.label.in_(["escape", "late"])).count() == 0


def test_rotating_ipv6_addresses_in_one_64_is_one_flood(cast: Cast) -> None:
    """An IPv6 client holds a whole /64: a new address per guess used to open a new window
    every time, so the limit never applied; an IPv4 address spelled as IPv6 counted apart."""
    limiter = auth_limiter(cast.hub)
    limit = cast.hub.config.auth_failures
    outcomes = []
    for i in range(limit + 5):
        try:
            H.authenticate(
                cast.hub, f"pst_guess{i}", source=f"2001:db8:1:2::{i:x}", limiter=limiter
            )
        except AuthenticationThrottled:
            outcomes.append("throttled")
        except AuthenticationError:
            outcomes.append("refused")
    assert outcomes == ["refused"] * limit + ["throttled"] * 5
    for i in range(limit):  # one host, spelled both ways in turn
        source = "::ffff:203.0.113.9" if i % 2 else "203.0.113.9"
        with pytest.raises(AuthenticationError) as refused:
            H.authenticate(cast.hub, f"pst_v4{i}", source=source, limiter=limiter)
        assert not isinstance(refused.value, AuthenticationThrottled)
    with pytest.raises(AuthenticationThrottled):
        H.authenticate(cast.hub, "pst_v4", source="203.0.113.9", limiter=limiter)
    neighbour = H.authenticate(
        cast.hub, cast.tokens["alice"], source="2001:db8:1:3::1", limiter=limiter
    )
    assert neighbour.name == "alice"  # another /64 is another customer


def test_a_flood_costs_the_log_two_events_and_counts_every_attempt(cast: Cast) -> None:
    limiter = auth_limiter(cast.hub)
    limit = cast.hub.config.auth_failures
    refused = throttled = 0
    for i in range(limit + 25):
        try:
            H.authenticate(cast.hub, f"pst_guess{i}", source="203.0.113.9", limiter=limiter)
        except AuthenticationThrottled as exc:
            throttled += 1
            assert exc.retry_after >= 1
        except AuthenticationError:
            refused += 1
    assert (refused, throttled) == (limit, 25)
    other = H.authenticate(cast.hub, cast.tokens["alice"], source="198.51.100.4", limiter=limiter)
    assert other.name == "alice"
    assert [e["action"] for e in _auth_events(cast)] == ["auth.token"]
    cast.clock.now += timedelta(seconds=cast.hub.config.auth_window_seconds)
    assert flush_auth_floods(cast.hub, limiter) == 1
    floods = [e for e in _auth_events(cast) if e["action"] == "auth.flood"]
    assert len(floods) == 1
    assert floods[0]["details"] == {
        "source": "203.0.113.9",
        "failures": limit,
        "throttled": 25,
        "from": floods[0]["details"]["from"],  # type: ignore[index]
        "until": floods[0]["details"]["until"],  # type: ignore[index]
    }
    assert H.verify_audit(cast.hub, cast.auditor).ok


def test_hidden_and_missing_read_the_same(cast: Cast) -> None:
    hidden = approved_project(cast, by=cast.bob)
    missing = hidden + 1000
    errors = []
    for pid in (hidden, missing):
        with pytest.raises(NotFoundError) as caught:
            H.get_project(cast.hub, cast.alice, pid)
        errors.append(str(caught.value).replace(str(pid), "ID"))
    assert (
        errors[0]
        == errors[1]
        == "no project ID exists that you may see; check the project you named"
    )
    for name in ("bob", "nobody"):
        with pytest.raises(NotFoundError) as caught:
            H.list_tokens(cast.hub, cast.alice, user=name)
        assert (
            str(caught.value)
            == f"no user {name!r} exists that you may see; check the user you named"
        )
