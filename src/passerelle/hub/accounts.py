"""Users, roles and API tokens; creating a hub and authenticating its callers.

Tokens look like ``pst_<random>``; only their SHA-256 is stored, they expire,
and they can be revoked. A token is checked on every call, so revoking a token,
disabling a user or removing a role takes effect at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passerelle.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    NotFoundError,
    UsageError,
)
from passerelle.hub.audit import SYSTEM, append_event, authorize
from passerelle.hub.hub import CONFIG_NAME, Hub, HubConfig
from passerelle.hub.keys import FileKeyStore
from passerelle.hub.rules import Action, Principal, Role
from passerelle.hub.tables import Token, User
from passerelle.hub.views import IssuedToken, Page, TokenView, UserView

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = [
    "authenticate",
    "create_user",
    "init_hub",
    "issue_token",
    "list_tokens",
    "list_users",
    "parse_roles",
    "revoke_token",
    "update_user",
    "user_named",
]

_NAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
_TOKEN_PREFIX = "pst_"


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


def _principal(user: User) -> Principal:
    roles = frozenset(Role(r) for r in user.roles.split(",") if r)
    return Principal(user.id, user.name, roles, user.active)


def _user_view(u: User) -> UserView:
    return UserView(
        u.id, u.name, u.display_name, sorted(u.roles.split(",")), u.active, u.created_at
    )


def _token_view(t: Token, user: str) -> TokenView:
    return TokenView(t.id, user, t.label, t.created_at, t.expires_at, t.revoked_at is not None)


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
    directory.mkdir(parents=True, exist_ok=True)
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
    chosen.setdefault("name", directory.resolve().name or defaults.name)
    try:
        config = HubConfig(directory=directory.resolve(), **chosen)
    except TypeError as exc:
        raise ConfigError(f"invalid hub settings: {exc}") from None
    if config.keys != "env":
        FileKeyStore.create((config.directory / config.keys).resolve())
    hub = Hub.from_config(config)
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
        issued = _issue(hub, session, user, "initial admin token", days=config.token_days)
    (directory / CONFIG_NAME).write_text(config.to_toml())
    return hub, issued


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise UsageError(
            f"invalid user name {name!r}: use 2-64 lowercase letters, digits, '.', '_' or '-'"
        )


def _issue(hub: Hub, session: Session, user: User, label: str, *, days: int) -> IssuedToken:
    if not 1 <= days <= 3650:
        raise UsageError(f"a token lives 1 to 3650 days, not {days}")
    secret = _TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = hub.now()
    token = Token(
        user_id=user.id,
        token_hash=hash_token(secret),
        label=label,
        created_at=now,
        expires_at=now + timedelta(days=days),
        revoked_at=None,
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
        details={"user": user.name, "label": label, "days": days},
    )
    return IssuedToken(_token_view(token, user.name), secret)


def authenticate(hub: Hub, secret: str | None) -> Principal:
    """The principal behind a bearer token; failures are audited and refused."""
    from sqlalchemy import select

    problem = ""
    principal: Principal | None = None
    with hub.transaction() as session:
        if not secret or not secret.startswith(_TOKEN_PREFIX):
            problem = "no valid API token was given: pass `Authorization: Bearer pst_...`"
        else:
            row = session.execute(
                select(Token, User)
                .join(User, User.id == Token.user_id)
                .where(Token.token_hash == hash_token(secret))
            ).first()
            if row is None:
                problem = "the API token is unknown: ask an admin for a new one"
            else:
                token, user = row
                if token.revoked_at is not None:
                    problem = f"the API token {token.id} was revoked: ask an admin for a new one"
                elif token.expires_at <= hub.now():
                    problem = f"the API token {token.id} expired: create a new one"
                elif not user.active:
                    problem = f"user {user.name} is disabled"
                else:
                    principal = _principal(user)
        if principal is None:
            append_event(
                hub,
                session,
                actor="anonymous",
                action="auth.token",
                target="token",
                decision="denied",
                details={"reason": problem},
            )
    if principal is None:
        raise AuthenticationError(problem)
    return principal


def user_named(session: Session, name: str) -> User:
    """The user called ``name``; not found says where to look."""
    from sqlalchemy import select

    user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"no user named {name!r}: check `passerelle users list`")
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
        user = user_named(session, name)
        details: dict[str, object] = {}
        if roles is not None:
            details["roles"] = sorted(parse_roles(roles))
        if active is not None:
            details["active"] = active
        authorize(hub, session, actor, Action.USER_MANAGE, f"user:{user.id}", details)
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


def issue_token(
    hub: Hub, actor: Principal, *, user: str | None = None, label: str = "", days: int | None = None
) -> IssuedToken:
    with hub.transaction() as session:
        owner = user_named(session, user or actor.name)
        action = Action.TOKEN_MANAGE_OWN if owner.id == actor.user_id else Action.TOKEN_MANAGE_ANY
        authorize(hub, session, actor, action, f"user:{owner.id}", {"label": label})
        return _issue(hub, session, owner, label or "api", days=days or hub.config.token_days)


def revoke_token(hub: Hub, actor: Principal, token_id: int) -> TokenView:
    with hub.transaction() as session:
        token = session.get(Token, token_id)
        owner = session.get(User, token.user_id) if token else None
        if token is None or owner is None:
            raise NotFoundError(f"no token {token_id}: check `passerelle tokens list`")
        action = Action.TOKEN_MANAGE_OWN if owner.id == actor.user_id else Action.TOKEN_MANAGE_ANY
        authorize(hub, session, actor, action, f"token:{token_id}", {"revoke": True})
        if token.revoked_at is None:
            token.revoked_at = hub.now()
        return _token_view(token, owner.name)


def list_tokens(hub: Hub, actor: Principal, *, user: str | None = None) -> list[TokenView]:
    from sqlalchemy import select

    with hub.transaction() as session:
        owner = user_named(session, user or actor.name)
        action = Action.TOKEN_MANAGE_OWN if owner.id == actor.user_id else Action.TOKEN_MANAGE_ANY
        authorize(hub, session, actor, action, f"user:{owner.id}", {"list": True})
        tokens = session.execute(select(Token).where(Token.user_id == owner.id).order_by(Token.id))
        return [_token_view(t, owner.name) for (t,) in tokens]
