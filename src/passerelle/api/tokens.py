"""``/tokens``: API tokens (each user manages their own, admins anyone's).

A token lives at most the hub's ``token_days`` and never past the token that
created it (its ``parent``); revoking one revokes the tokens created through it.
To anyone but an admin, another user's tokens are "not found".
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from passerelle.api.auth import Actor, HubDep
from passerelle.api.errors import ERROR_RESPONSES
from passerelle.api.models import ListPage, TokenCreate
from passerelle.api.params import ItemId, Limit, Offset, list_page
from passerelle.hub.views import IssuedToken, TokenView

__all__ = ["router"]

UserQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Whose tokens (admins only for others: to anyone else another user is "
        "not found); the caller's when omitted.",
    ),
]


def router() -> APIRouter:
    r = APIRouter(prefix="/tokens", tags=["tokens"], responses=ERROR_RESPONSES)

    @r.post("", status_code=201, summary="Issue a token; its secret is shown only in this answer")
    def issue(body: TokenCreate, hub: HubDep, actor: Actor) -> IssuedToken:
        from passerelle.hub import issue_token

        return issue_token(hub, actor, user=body.user, label=body.label, days=body.days)

    @r.get("", summary="List tokens (never their secrets)")
    def list_all(
        hub: HubDep,
        actor: Actor,
        user: UserQuery = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> ListPage[TokenView]:
        from passerelle.hub import list_tokens

        return list_page(list_tokens(hub, actor, user=user), limit, offset)

    @r.post(
        "/{token_id}/revoke",
        summary="Revoke a token and every token created through it: they stop working at once",
    )
    def revoke(token_id: ItemId, hub: HubDep, actor: Actor) -> TokenView:
        from passerelle.hub import revoke_token

        return revoke_token(hub, actor, token_id)

    return r
