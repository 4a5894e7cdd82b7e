"""Grants of datasets to projects: ``/projects/{id}/grants`` and ``/grants/{id}/revoke``."""

from __future__ import annotations

from fastapi import APIRouter

from passerelle.api.auth import Actor, HubDep
from passerelle.api.errors import ERROR_RESPONSES
from passerelle.api.models import GrantCreate, ListPage
from passerelle.api.params import ItemId, Limit, Offset, list_page
from passerelle.hub.views import GrantView

__all__ = ["router"]


def router() -> APIRouter:
    r = APIRouter(tags=["grants"], responses=ERROR_RESPONSES)

    @r.post(
        "/projects/{project_id}/grants",
        status_code=201,
        summary="Grant a dataset (or some of its columns) to an approved project (stewards)",
    )
    def create(project_id: ItemId, body: GrantCreate, hub: HubDep, actor: Actor) -> GrantView:
        from passerelle.hub import create_grant

        return create_grant(
            hub, actor, project_id, body.dataset, expires_on=body.expires_on, columns=body.columns
        )

    @r.get("/projects/{project_id}/grants", summary="A project's grants")
    def list_all(
        project_id: ItemId, hub: HubDep, actor: Actor, limit: Limit = 100, offset: Offset = 0
    ) -> ListPage[GrantView]:
        from passerelle.hub import list_grants

        return list_page(list_grants(hub, actor, project_id), limit, offset)

    @r.post("/grants/{grant_id}/revoke", summary="Revoke a grant: access stops at once (stewards)")
    def revoke(grant_id: ItemId, hub: HubDep, actor: Actor) -> GrantView:
        from passerelle.hub import revoke_grant

        return revoke_grant(hub, actor, grant_id)

    return r
