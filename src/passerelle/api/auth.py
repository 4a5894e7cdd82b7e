"""Bearer-token authentication: every request's ``Principal``, checked on every call."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from passerelle.hub.hub import Hub
from passerelle.hub.rules import Principal

__all__ = ["Actor", "HubDep", "current_hub", "current_principal"]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token (`pst_...`) from `passerelle init`, `passerelle tokens issue` "
    "or `POST /tokens`.",
)


def current_hub(request: Request) -> Hub:
    """The hub the app was built with."""
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(current_hub)]


def current_principal(
    hub: HubDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind the bearer token; a refusal is audited and answered 401."""
    from passerelle.hub.accounts import authenticate

    return authenticate(hub, credentials.credentials if credentials else None)


Actor = Annotated[Principal, Depends(current_principal)]
