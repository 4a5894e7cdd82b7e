"""Signing in and out, and each role's home page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Form, Query, Request

from passerelle.portal.params import Csrf
from passerelle.portal.routing import PortalRoute, SignedIn, check_csrf, render
from passerelle.portal.session import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    csrf_matches,
    new_signin_nonce,
    safe_next,
    start_session,
)

if TYPE_CHECKING:
    from starlette.responses import Response

__all__ = ["router"]

_Token = Annotated[str, Form(max_length=200)]
_Next = Annotated[str, Form(max_length=2000)]


def _signin_page(request: Request, *, status: int, message: str | None, next_: str) -> Response:
    nonce = new_signin_nonce()
    response = render(
        request, "signin.html", status=status, message=message, nonce=nonce, next=next_
    )
    response.set_cookie(
        SIGNIN_COOKIE,
        nonce,
        max_age=900,
        path="/signin",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def router() -> APIRouter:
    r = APIRouter(route_class=PortalRoute, include_in_schema=False)

    @r.get("/")
    def root() -> Response:
        from fastapi.responses import RedirectResponse

        return RedirectResponse("/portal/", status_code=303)

    @r.get("/signin")
    def signin_form(
        request: Request,
        next: Annotated[str | None, Query(max_length=2000)] = None,
        refused: Annotated[int, Query(ge=0, le=1)] = 0,
    ) -> Response:
        message = (
            "Your session ended (signed out, revoked or expired): sign in again."
            if refused
            else None
        )
        return _signin_page(request, status=200, message=message, next_=safe_next(next))

    @r.post("/signin")
    def signin(request: Request, token: _Token, nonce: Csrf, next: _Next = "/portal/") -> Response:
        from fastapi.responses import RedirectResponse

        from passerelle.errors import AuthenticationError

        if not csrf_matches(request.cookies.get(SIGNIN_COOKIE), nonce):
            return _signin_page(
                request,
                status=403,
                message="The sign-in form expired or came from another site: try again.",
                next_=safe_next(next),
            )
        try:
            _, issued = start_session(
                request.app.state.hub,
                token.strip(),
                source=request.client.host if request.client else "unknown",
                limiter=getattr(request.app.state, "auth_limiter", None),
            )
        except AuthenticationError as exc:
            status = 429 if type(exc).__name__ == "AuthenticationThrottled" else 401
            return _signin_page(request, status=status, message=str(exc), next_=safe_next(next))
        response = RedirectResponse(safe_next(next), status_code=303)
        expires = issued.token.expires_at
        response.set_cookie(
            SESSION_COOKIE,
            issued.secret,
            expires=expires,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(SIGNIN_COOKIE, path="/signin")
        return response

    @r.post("/signout")
    def signout(request: Request, actor: SignedIn, csrf: Csrf) -> Response:
        from fastapi.responses import RedirectResponse

        from passerelle.hub import revoke_token

        check_csrf(request, csrf)
        if actor.token_id is not None:
            revoke_token(request.app.state.hub, actor, actor.token_id)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @r.get("/portal/")
    def home(request: Request, actor: SignedIn) -> Response:
        return render(request, "home.html")

    return r
