"""Bearer-token authentication: every request's ``Principal``, checked on every call.

Failed authentications are counted per client address (the connection's peer, or
what the ASGI server was told to trust from a proxy, e.g. uvicorn's
``--forwarded-allow-ips``) by the app's ``FailureLimiter``: over the hub's
``auth_failures`` per ``auth_window_seconds`` an address gets 429 with
``Retry-After`` until its window ends, and the flood is one audit event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from passerelle.hub.hub import Hub
from passerelle.hub.rules import Principal

if TYPE_CHECKING:
    from fastapi import FastAPI

    from passerelle.hub.auth_floods import FailureLimiter

__all__ = [
    "Actor",
    "Bearer",
    "HubDep",
    "MaybeActor",
    "auth_lifespan",
    "bearer_credentials",
    "current_hub",
    "current_principal",
    "install_auth",
]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token (`pst_...`) from `passerelle init`, `passerelle tokens create` "
    "or `POST /tokens`.",
)


Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
"""The bearer token as given (read on the event loop), for a route that checks it itself
in its worker thread (``api/one_thread.py``); the OpenAPI security is the same."""


async def bearer_credentials(request: Request) -> HTTPAuthorizationCredentials | None:
    """What ``Bearer`` gives, outside a route's parameters."""
    return await _bearer(request)


async def current_hub(request: Request) -> Hub:
    """The hub the app was built with (async: FastAPI would run a plain function in a
    worker thread, one more hop per request for an attribute read)."""
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(current_hub)]


def install_auth(app: FastAPI, hub: Hub) -> None:
    """Give ``app`` its limiter of failed authentications (from the hub's settings)."""
    from passerelle.hub.accounts import auth_limiter

    app.state.auth_limiter = auth_limiter(hub)


@asynccontextmanager
async def auth_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Apply the server's thread limits; at shutdown, audit the floods still being
    counted, so none is lost."""
    from passerelle.api.threads import thread_limits
    from passerelle.hub.accounts import flush_auth_floods

    async with thread_limits(app):
        yield
    limiter: FailureLimiter | None = getattr(app.state, "auth_limiter", None)
    if limiter is not None:
        flush_auth_floods(app.state.hub, limiter, everything=True)


def current_principal(request: Request, hub: HubDep, credentials: Bearer) -> Principal:
    """The caller behind the bearer token; a refusal is audited and answered 401 (or 429)."""
    from passerelle.hub.accounts import authenticate

    return authenticate(
        hub,
        credentials.credentials if credentials else None,
        source=request.client.host if request.client else "unknown",
        limiter=getattr(request.app.state, "auth_limiter", None),
    )


Actor = Annotated[Principal, Depends(current_principal)]


def optional_principal(request: Request, hub: HubDep, credentials: Bearer) -> Principal | None:
    """``None`` without a bearer token (the public views); else the caller, checked as on
    every route: a wrong token is 401, never the public view."""
    if credentials is None:
        return None
    return current_principal(request, hub, credentials)


MaybeActor = Annotated[Principal | None, Depends(optional_principal)]
