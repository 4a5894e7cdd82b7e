"""``passerelle users|tokens``: people, their roles and their API tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from passerelle.cli.hub_context import HubOpt, JsonOpt, TokenOpt, emit, open_as

__all__ = ["register"]

users = typer.Typer(help="Hub users and their roles (admin only).", no_args_is_help=True)
tokens = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)

RolesOpt = Annotated[
    str,
    typer.Option(
        "--roles",
        help="Comma-separated: admin, steward, researcher, output-checker, auditor, operator.",
    ),
]


@users.command("add")
def _add(
    name: Annotated[str, typer.Argument(help="Login name, e.g. m.dupont.")],
    roles: RolesOpt,
    display_name: Annotated[str, typer.Option(help="Full name.")] = "",
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a user with roles."""
    from passerelle.hub import create_user

    h, me = open_as(hub, token)
    emit(create_user(h, me, name, roles, display_name), as_json)


@users.command("list")
def _list(
    limit: int = 100,
    offset: int = 0,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List users."""
    from passerelle.hub import list_users

    h, me = open_as(hub, token)
    emit(
        list_users(h, me, limit=limit, offset=offset),
        as_json,
        ["id", "name", "display_name", "roles", "active"],
    )


@users.command("set-roles")
def _set_roles(
    name: str, roles: RolesOpt, hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Replace a user's roles (takes effect on their next call)."""
    from passerelle.hub import update_user

    h, me = open_as(hub, token)
    emit(update_user(h, me, name, roles=roles), as_json)


@users.command("disable")
def _disable(
    name: str, hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Disable a user: every token of theirs stops working at once."""
    from passerelle.hub import update_user

    h, me = open_as(hub, token)
    emit(update_user(h, me, name, active=False), as_json)


@users.command("enable")
def _enable(
    name: str, hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Enable a disabled user again."""
    from passerelle.hub import update_user

    h, me = open_as(hub, token)
    emit(update_user(h, me, name, active=True), as_json)


@tokens.command("create")
def _create(
    user: Annotated[
        str | None,
        typer.Option(help="Whose token (admins only; to anyone else another user is not found)."),
    ] = None,
    label: Annotated[str, typer.Option(help="What the token is for.")] = "",
    days: Annotated[
        int | None,
        typer.Option(
            help="Lifetime in days: at most hub.toml's token_days, and never past the token "
            "you use (refused if asked; the default is the longest allowed)."
        ),
    ] = None,
    hub: HubOpt = None,
    token: TokenOpt = None,
) -> None:
    """Create a token; the secret is printed once, only its hash is kept."""
    from passerelle.cli.render import error_console
    from passerelle.hub import issue_token

    h, me = open_as(hub, token)
    issued = issue_token(h, me, user=user, label=label, days=days)
    error_console().print(
        f"token {issued.token.id} for {issued.token.user}, "
        f"expires {issued.token.expires_at:%Y-%m-%d}"
    )
    typer.echo(issued.secret)


@tokens.command("list")
def _tokens(
    user: Annotated[
        str | None,
        typer.Option(help="Whose tokens (admins only; to anyone else another user is not found)."),
    ] = None,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List tokens (never their secrets)."""
    from passerelle.hub import list_tokens

    h, me = open_as(hub, token)
    emit(list_tokens(h, me, user=user), as_json)


@tokens.command("revoke")
def _revoke(
    token_id: int, hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Revoke a token, and every token created with it, at once."""
    from passerelle.hub import revoke_token

    h, me = open_as(hub, token)
    emit(revoke_token(h, me, token_id), as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(users, name="users")
    app.add_typer(tokens, name="tokens")
