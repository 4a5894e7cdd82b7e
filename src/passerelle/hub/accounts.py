"""Users, roles and API tokens; creating a hub and authenticating its callers.

Tokens look like ``pst_<random>``; only their SHA-256 is stored, they expire,
and they can be revoked. A token is checked on every call, so revoking a token,
disabling a user or removing a role takes effect at once.

No token lives longer than the hub's ``token_days`` (admins' included; lowering
the setting shortens tokens already issued), and a token issued through another
one records it as its parent: it never outlives it (an explicit longer ask is
refused, the default is shortened) and it is revoked with it. Failed
authentications from one client address are capped per window and counted, so
a flood of bad tokens is one ``auth.flood`` event (``auth_floods``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from passerelle.errors import (
    AuthenticationError,
    AuthenticationThrottled,
    ConfigError,
    ConflictError,
    UsageError,
    not_found,
)
from passerelle.hub.audit import SYSTEM, append_event, authorize
from passerelle.hub.auth_floods import FailureLimiter, Flood
from passerelle.hub.hub import CONFIG_NAME, Hub, HubConfig
from passerelle.hub.rules import Action, Principal, Role
from passerelle.hub.tables import Token, User
from passerelle.hub.views import IssuedToken, Page, TokenView, UserView
from passerelle.storage.keys import HUB, check_name

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.orm import Session

__all__ = [
    "auth_limiter",
    "authenticate",
    "create_user",
    "flush_auth_floods",
    "init_hub",
    "issue_token",
    "list_tokens",
    "list_users",
    "parse_roles",
    "revoke_token",
    "token_expiry",
    "update_user",
    "user_named",
]

_NAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
_TOKEN_PREFIX = "pst_"
MAX_TOKEN_DAYS = 3650


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_roles(roles: str | list[str]) -> frozenset[Role]:
    names = roles.split(",") if isinstance(roles, str) else roles
    out = set()
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        try:
            out.add(Role(name))
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise UsageError(f"unknown role {name!r}: use one of {known}") from None
    if not out:
        raise UsageError("a user needs at least one role")
    return frozenset(out)


def _principal(
    user: User, token: Token | None = None, expires: datetime | None = None
) -> Principal:
    token_id = token.id if token is not None else None
    return Principal(user.id, user.name, _roles(user.roles), user.active, token_id, expires)


def _roles(text: str) -> frozenset[Role]:
    return frozenset(Role(r) for r in text.split(",") if r)


def _user_view(u: User) -> UserView:
    return UserView(
        u.id, u.name, u.display_name, sorted(u.roles.split(",")), u.active, u.created_at
    )


def _token_view(t: Token, user: str) -> TokenView:
    revoked = t.revoked_at is not None
    return TokenView(t.id, user, t.label, t.created_at, t.expires_at, revoked, t.parent_id)


def init_hub(
    directory: Path,
    *,
    admin: str = "admin",
    name: str | None = None,
    database: str | None = None,
    store: str | None = None,
    checkpoints: str | None = None,
    keys: str | None = None,
    settings: Mapping[str, Any] | None = None,
) -> tuple[Hub, IssuedToken]:
    """Create a hub: config file, keys, database schema, first admin and its token.

    ``settings`` are ``[hub]`` values (e.g. from ``read_settings``); the named
    arguments, when given, win over them.
    """
    if (directory / CONFIG_NAME).exists():
        raise ConflictError(f"a hub already exists at {directory}; use it or pick another folder")
    _check_name(admin)
    defaults = HubConfig(directory=directory.resolve())
    chosen = dict(settings or {})
    for key, value in (
        ("name", name),
        ("database", database),
        ("store", store),
        ("checkpoints", checkpoints),
        ("keys", keys),
    ):
        if value is not None:
            chosen[key] = value
    chosen.setdefault("name", _default_hub_name(directory, defaults.name))
    check_name(chosen["name"], HUB)  # it names the checkpoints' folder in the store
    from passerelle.hub.config_file import check_text_settings, write_document

    check_text_settings(chosen, "hub settings")  # what hub.toml will hold, before any write
    directory.mkdir(parents=True, exist_ok=True)
    try:
        config = HubConfig(directory=directory.resolve(), **chosen)
    except TypeError as exc:
        raise ConfigError(f"invalid hub settings: {exc}") from None
    from passerelle.hub.placement import settle_new_hub

    config = settle_new_hub(config)  # the placement policy at the store, before any write
    from passerelle.hub.key_setup import prepare_keys, record_first_key

    custody, first_key = prepare_keys(config)  # the first KEK when needed, the secrets file
    hub = Hub.from_config(config)
    hub._custody = custody or hub._custody
    hub.db.upgrade()
    for url in {config.store, config.checkpoints} - {"store"}:
        hub.open_url(config.resolve_url(url)).create_container()
    with hub.transaction() as session:
        from sqlalchemy import select

        if session.execute(select(User.id).limit(1)).first():
            raise ConfigError(
                f"the database {hub.db.url.split('@')[-1]} already holds a hub; "
                "give an empty database"
            )
        user = User(
            name=admin,
            display_name=admin,
            roles=Role.ADMIN.value,
            active=True,
            created_at=hub.now(),
        )
        session.add(user)
        session.flush()
        append_event(
            hub,
            session,
            actor=SYSTEM,
            action="hub.init",
            target=f"user:{user.id}",
            decision="allowed",
            details={"admin": admin, "database": hub.db.dialect},
        )
        record_first_key(hub, session, first_key)
        issued = _issue(hub, session, user, "initial admin token", days=None, parent=None)
    write_document(directory / CONFIG_NAME, config.document())  # whole, or not at all
    return hub, issued


def _default_hub_name(directory: Path, fallback: str) -> str:
    """The folder's name when it is a valid hub name, else ``fallback``."""
    candidate = directory.resolve().name
    try:
        return check_name(candidate, HUB)
    except UsageError:
        return fallback


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):  # fullmatch: "$" would let "name\n" through
        raise UsageError(
            f"invalid user name {name!r}: use 2-64 lowercase letters, digits, '.', '_' or '-'"
        )


def _cap_days(hub: Hub) -> int:
    cap = hub.config.token_days
    if not isinstance(cap, int) or not 1 <= cap <= MAX_TOKEN_DAYS:
        raise ConfigError(f"hub.toml: token_days must be a whole number from 1 to {MAX_TOKEN_DAYS}")
    return cap


def token_expiry(
    now: datetime, *, cap_days: int, days: int | None, parent_expires: datetime | None
) -> datetime:
    """When a new token expires: ``days`` (default the cap), never past the cap or its parent.

    An explicit ask beyond either limit is refused with one sentence; the default
    is shortened to fit, so issuing without ``days`` always works.
    """
    if days is not None and not 1 <= days <= cap_days:
        raise UsageError(
            f"a token lives 1 to {cap_days} days on this hub (its token_days), not {days}: "
            "ask for fewer days"
        )
    expires = now + timedelta(days=days or cap_days)
    if parent_expires is not None and expires > parent_expires:
        if days is not None:
            left = (parent_expires - now).days
            raise UsageError(
                f"the token you are using expires on {parent_expires:%Y-%m-%d %H:%M} UTC and a "
                f"token it issues cannot outlive it: ask for at most {left} day(s) or leave "
                "days out"
            )
        expires = parent_expires
    return expires


def _issue(
    hub: Hub,
    session: Session,
    user: User,
    label: str,
    *,
    days: int | None,
    parent: Principal | None,
) -> IssuedToken:
    now = hub.now()
    if parent is not None:
        _still_valid(hub, session, parent)
    parent_expires = parent.token_expires if parent is not None else None
    expires = token_expiry(now, cap_days=_cap_days(hub), days=days, parent_expires=parent_expires)
    secret = _TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = Token(
        user_id=user.id,
        token_hash=hash_token(secret),
        label=label,
        created_at=now,
        expires_at=expires,
        revoked_at=None,
        parent_id=parent.token_id if parent is not None else None,
    )
    session.add(token)
    session.flush()
    append_event(
        hub,
        session,
        actor=SYSTEM,
        action="token.issue",
        target=f"token:{token.id}",
        decision="allowed",
        details={
            "user": user.name,
            "label": label,
            "days": days,
            "expires_at": expires.isoformat(timespec="seconds"),
            "parent": token.parent_id,
        },
    )
    return IssuedToken(_token_view(token, user.name), secret)


def auth_limiter(hub: Hub) -> FailureLimiter:
    """A limiter of failed authentications with the hub's ``auth_*`` settings."""
    limit, seconds = hub.config.auth_failures, hub.config.auth_window_seconds
    if not isinstance(limit, int) or not isinstance(seconds, int) or limit < 1 or seconds < 1:
        raise ConfigError(
            "hub.toml: auth_failures and auth_window_seconds must be whole numbers of 1 or more"
        )
    return FailureLimiter(limit, timedelta(seconds=seconds))


def _write_floods(hub: Hub, session: Session, floods: list[Flood]) -> None:
    for flood in floods:
        append_event(
            hub,
            session,
            actor="anonymous",
            action="auth.flood",
            target=f"source:{flood.source}",
            decision="denied",
            details=flood.audit_details(),
        )


def flush_auth_floods(hub: Hub, limiter: FailureLimiter, *, everything: bool = False) -> int:
    """Audit the floods whose window ended (``everything``: all, at shutdown); how many."""
    now = hub.now()
    floods = limiter.drain(now) if everything else limiter.closed(now)
    if floods:
        with hub.transaction() as session:
            _write_floods(hub, session, floods)
    return len(floods)


def _still_valid(hub: Hub, session: Session, actor: Principal) -> None:
    """Refuse to mint through a token revoked, expired or whose user was disabled since the
    request authenticated: a child made after its lineage was revoked would escape it.

    Called under the audit lock (taken by the decision's event), which a revocation
    takes too before it gathers the lineage, so the two cannot interleave.
    """
    if actor.token_id is None:
        return
    token = session.get(Token, actor.token_id, populate_existing=True)
    user = session.get(User, actor.user_id, populate_existing=True)
    if token is None or user is None:
        raise AuthenticationError("the API token is unknown: ask an admin for a new one")
    refusal = _refusal(hub, token, user)
    if refusal is not None:
        raise AuthenticationError(refusal)


class TokenColumns(Protocol):
    """What a token's check reads: a ``Token`` or a row of its columns."""

    @property
    def id(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def revoked_at(self) -> datetime | None: ...


class UserColumns(Protocol):
    """What a token's check reads of its user: a ``User`` or a row of its columns."""

    @property
    def name(self) -> str: ...
    @property
    def active(self) -> bool: ...


def _refusal(hub: Hub, token: TokenColumns, user: UserColumns) -> str | None:
    """Why ``token`` of ``user`` authenticates no one (revoked, expired, disabled), or None."""
    if token.revoked_at is not None:
        return f"the API token {token.id} was revoked: ask an admin for a new one"
    if _expires(hub, token) <= hub.now():
        return f"the API token {token.id} expired: create a new one"
    if not user.active:
        return f"user {user.name} is disabled"
    return None


def _expires(hub: Hub, token: TokenColumns) -> datetime:
    """A token's end: its own, or sooner if the hub's token_days was lowered since."""
    return min(token.expires_at, token.created_at + timedelta(days=_cap_days(hub)))


@cache
def _token_and_user() -> Select[int, datetime, datetime, datetime | None, int, str, str, bool]:
    """What a check needs of the token whose hash is ``:hash`` and of its user, as one
    row (SQL Core from a statement built once: every request asks, and loading the two
    entities cost more than the query)."""
    from sqlalchemy import bindparam, select

    return (
        select(
            Token.id,
            Token.created_at,
            Token.expires_at,
            Token.revoked_at,
            Token.user_id,
            User.name,
            User.roles,
            User.active,
        )
        .join(User, User.id == Token.user_id)
        .where(Token.token_hash == bindparam("hash"))
    )


def _check_token(hub: Hub, session: Session, secret: str | None) -> Principal | str:
    """The principal behind ``secret``, or the sentence saying why there is none."""

    if not secret or not secret.startswith(_TOKEN_PREFIX):
        return "no valid API token was given: pass `Authorization: Bearer pst_...`"
    row = session.connection().execute(_token_and_user(), {"hash": hash_token(secret)}).first()
    if row is None:
        return "the API token is unknown: ask an admin for a new one"
    refusal = _refusal(hub, row, row)  # the row holds the token's and its user's columns
    if refusal is not None:
        return refusal
    return Principal(
        row.user_id, row.name, _roles(row.roles), row.active, row.id, _expires(hub, row)
    )


def authenticate(
    hub: Hub,
    secret: str | None,
    *,
    source: str | None = None,
    limiter: FailureLimiter | None = None,
) -> Principal:
    """The principal behind a bearer token; failures are audited and refused.

    With a ``limiter``, failures are counted per ``source`` address: an address
    over its limit is refused (``AuthenticationThrottled``) before its token is
    looked at, only the first failure of a window is an event of its own, and
    the rest are written as one ``auth.flood`` event once the window has ended.
    """
    now = hub.now()
    floods = limiter.closed(now) if limiter is not None else []
    wait = limiter.blocked(source, now) if limiter is not None and source is not None else None
    if wait is not None:
        if floods:
            with hub.transaction() as session:
                _write_floods(hub, session, floods)
        raise AuthenticationThrottled(
            f"too many failed authentications from {source}: wait {wait} s before trying again",
            retry_after=wait,
        )
    if not floods:  # the common case writes nothing: a read that never waits for writers
        with hub.db.read_one() as session:
            found = _check_token(hub, session, secret)
        if isinstance(found, Principal):
            return found
    with hub.transaction() as session:
        _write_floods(hub, session, floods)
        found = _check_token(hub, session, secret)
        if isinstance(found, Principal):
            return found
        first = True
        if limiter is not None and source is not None:
            first = limiter.failed(source, now)
        if first:
            details: dict[str, object] = {"reason": found}
            if source is not None:
                details["source"] = source
            append_event(
                hub,
                session,
                actor="anonymous",
                action="auth.token",
                target="token",
                decision="denied",
                details=details,
            )
    raise AuthenticationError(found)


def user_named(session: Session, name: str) -> User:
    """The user called ``name``; not found (the same answer as a hidden one) otherwise."""
    from sqlalchemy import select

    user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None:
        raise not_found("user", name)
    return user


def create_user(
    hub: Hub, actor: Principal, name: str, roles: str | list[str], display_name: str = ""
) -> UserView:
    from sqlalchemy import select

    _check_name(name)
    role_set = parse_roles(roles)
    with hub.transaction() as session:
        authorize(
            hub, session, actor, Action.USER_MANAGE, f"user:{name}", {"roles": sorted(role_set)}
        )
        if session.execute(select(User.id).where(User.name == name)).first():
            raise ConflictError(f"a user named {name!r} already exists")
        user = User(
            name=name,
            display_name=display_name or name,
            roles=",".join(sorted(role_set)),
            active=True,
            created_at=hub.now(),
        )
        session.add(user)
        session.flush()
        return _user_view(user)


def update_user(
    hub: Hub,
    actor: Principal,
    name: str,
    *,
    roles: str | list[str] | None = None,
    active: bool | None = None,
) -> UserView:
    with hub.transaction() as session:
        details: dict[str, object] = {}
        if roles is not None:
            details["roles"] = sorted(parse_roles(roles))
        if active is not None:
            details["active"] = active
        # decided before the lookup: a non-admin learns nothing about which names exist
        authorize(hub, session, actor, Action.USER_MANAGE, f"user:{name}", details)
        user = user_named(session, name)
        if user.id == actor.user_id and (
            active is False or (roles is not None and Role.ADMIN not in parse_roles(roles))
        ):
            raise ConflictError("an admin cannot disable or demote themselves; ask another admin")
        if roles is not None:
            user.roles = ",".join(sorted(parse_roles(roles)))
        if active is not None:
            user.active = active
        return _user_view(user)


def list_users(hub: Hub, actor: Principal, *, limit: int = 100, offset: int = 0) -> Page[UserView]:
    from sqlalchemy import func, select

    with hub.transaction() as session:
        authorize(hub, session, actor, Action.USER_READ, "users")
        total = session.execute(select(func.count(User.id))).scalar_one()
        users = session.execute(select(User).order_by(User.id).limit(limit).offset(offset))
        return Page([_user_view(u) for (u,) in users], total, limit, offset)


def _token_owner(
    hub: Hub, session: Session, actor: Principal, user: str | None, details: dict[str, object]
) -> User:
    """Whose tokens: the actor's own, or (admins only) another user's, decided before lookup.

    A non-admin naming anyone else is answered "not found" whether the name
    exists or not.
    """
    if user is None or user == actor.name:
        authorize(hub, session, actor, Action.TOKEN_MANAGE_OWN, f"user:{actor.name}", details)
        return session.get_one(User, actor.user_id)
    authorize(hub, session, actor, Action.TOKEN_MANAGE_ANY, f"user:{user}", details)
    return user_named(session, user)


def issue_token(
    hub: Hub, actor: Principal, *, user: str | None = None, label: str = "", days: int | None = None
) -> IssuedToken:
    """A new token for ``user`` (default the actor), issued through the actor's token.

    It expires after ``days`` (default the hub's ``token_days``), never later than
    the cap nor than the token the actor authenticated with.
    """
    with hub.transaction() as session:
        owner = _token_owner(hub, session, actor, user, {"label": label})
        return _issue(hub, session, owner, label or "api", days=days, parent=actor)


def _descendants(session: Session, token_id: int) -> list[Token]:
    from sqlalchemy import select

    out: list[Token] = []
    frontier = [token_id]
    while frontier:
        children = session.execute(select(Token).where(Token.parent_id.in_(frontier))).scalars()
        found = [c for c in children if c.id != token_id]
        out.extend(found)
        frontier = [c.id for c in found]
    return out


def revoke_token(hub: Hub, actor: Principal, token_id: int) -> TokenView:
    """Revoke a token and every token issued through it, at once."""
    with hub.transaction() as session:
        hub.db.lock_audit(session)  # no child may be minted between the lineage and the revoke
        token = session.get(Token, token_id)
        owner = session.get(User, token.user_id) if token else None
        if token is None or owner is None:
            raise not_found("token", token_id)
        action = Action.TOKEN_MANAGE_OWN if owner.id == actor.user_id else Action.TOKEN_MANAGE_ANY
        children = _descendants(session, token.id)
        authorize(
            hub,
            session,
            actor,
            action,
            f"token:{token_id}",
            {"revoke": True, "with": [c.id for c in children]},
        )
        now = hub.now()
        for t in (token, *children):
            if t.revoked_at is None:
                t.revoked_at = now
        return _token_view(token, owner.name)


def list_tokens(hub: Hub, actor: Principal, *, user: str | None = None) -> list[TokenView]:
    from sqlalchemy import select

    with hub.transaction() as session:
        owner = _token_owner(hub, session, actor, user, {"list": True})
        tokens = session.execute(select(Token).where(Token.user_id == owner.id).order_by(Token.id))
        return [_token_view(t, owner.name) for (t,) in tokens]
