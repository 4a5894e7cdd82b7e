"""``/users`` (admins manage, stewards read) and ``/me``."""

from __future__ import annotations

from fastapi import APIRouter

from passerelle.api.auth import Actor, HubDep
from passerelle.api.errors import ERROR_RESPONSES
from passerelle.api.models import UserCreate, UserUpdate, WhoAmI
from passerelle.api.params import Limit, Offset, UserName
from passerelle.hub.views import Page, UserView

__all__ = ["router"]


def router() -> APIRouter:
    r = APIRouter(tags=["users"], responses=ERROR_RESPONSES)

    @r.get("/me", summary="Who the token belongs to, with their roles")
    def me(actor: Actor) -> WhoAmI:
        return WhoAmI(id=actor.user_id, name=actor.name, roles=sorted(actor.roles))

    @r.post("/users", status_code=201, summary="Create a user (admins)")
    def create(body: UserCreate, hub: HubDep, actor: Actor) -> UserView:
        from passerelle.hub import create_user

        return create_user(hub, actor, body.name, [r.value for r in body.roles], body.display_name)

    @r.get("/users", summary="List users (admins and stewards)")
    def list_all(
        hub: HubDep, actor: Actor, limit: Limit = 100, offset: Offset = 0
    ) -> Page[UserView]:
        from passerelle.hub import list_users

        return list_users(hub, actor, limit=limit, offset=offset)

    @r.patch("/users/{name}", summary="Change a user's roles or disable them (admins)")
    def update(name: UserName, body: UserUpdate, hub: HubDep, actor: Actor) -> UserView:
        from passerelle.hub import update_user

        roles = [r.value for r in body.roles] if body.roles is not None else None
        return update_user(hub, actor, name, roles=roles, active=body.active)

    return r
