"""Token-less routes: ``GET /health`` (the hub answers, its database is reachable) and
``GET /audit/head`` (the newest signed audit checkpoint, for third parties to keep)."""

from __future__ import annotations

from fastapi import APIRouter

from passerelle.api.auth import HubDep
from passerelle.api.errors import ERROR_RESPONSES
from passerelle.api.models import AuditHeadOut, Health

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

    @r.get(
        "/audit/head",
        tags=["audit"],
        summary="The newest signed audit checkpoint and its public key (no token)",
    )
    def audit_head(hub: HubDep) -> AuditHeadOut:
        from passerelle.hub.checkpoints import signed_head

        return AuditHeadOut.model_validate(signed_head(hub).to_dict())

    return r
