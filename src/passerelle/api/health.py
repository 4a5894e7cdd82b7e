"""``GET /health``: the hub answers and its database is reachable (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter

from passerelle.api.auth import HubDep
from passerelle.api.errors import ERROR_RESPONSES
from passerelle.api.models import Health

__all__ = ["router"]


def router() -> APIRouter:
    r = APIRouter(tags=["health"])

    @r.get(
        "/health",
        summary="The hub answers and its database is reachable",
        responses={503: ERROR_RESPONSES[503]},
    )
    def health(hub: HubDep) -> Health:
        hub.db.revision()  # raises EndpointUnreachableError (503) when the database is down
        return Health(hub=hub.config.name, database=hub.db.dialect)

    return r
