"""``/organizations``: the organizations that supply data."""

from __future__ import annotations

from fastapi import APIRouter

from passerelle.api.auth import Actor, HubDep
from passerelle.api.errors import ERROR_RESPONSES
from passerelle.api.models import OrganizationCreate
from passerelle.api.params import Limit, Offset
from passerelle.hub.views import OrganizationView, Page

__all__ = ["router"]


def router() -> APIRouter:
    r = APIRouter(prefix="/organizations", tags=["organizations"], responses=ERROR_RESPONSES)

    @r.post("", status_code=201, summary="Register an organization (stewards)")
    def create(body: OrganizationCreate, hub: HubDep, actor: Actor) -> OrganizationView:
        from passerelle.hub import create_organization

        return create_organization(hub, actor, body.code, body.name, body.kind)

    @r.get("", summary="List organizations")
    def list_all(
        hub: HubDep, actor: Actor, limit: Limit = 100, offset: Offset = 0
    ) -> Page[OrganizationView]:
        from passerelle.hub import list_organizations

        return list_organizations(hub, actor, limit=limit, offset=offset)

    return r
