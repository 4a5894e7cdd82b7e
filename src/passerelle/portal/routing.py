"""How portal pages answer: HTML from autoescaped templates, errors as one sentence.

``PortalRoute`` turns every library error into the error page with the API's
status and the library's sentence, a missing or dead session into a redirect to
the sign-in page, and a bad form value into a 422 page; nothing a user can cause
shows a traceback. ``signed_in`` is the pages' dependency: the principal behind
the session cookie, authenticated on every request exactly as the API's bearer.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, ClassVar
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from passerelle.errors import AuthenticationError, PasserelleError
from passerelle.hub.rules import Principal
from passerelle.portal.session import SESSION_COOKIE, csrf_for, csrf_matches

if TYPE_CHECKING:
    from jinja2 import Environment
    from starlette.responses import Response

__all__ = [
    "PortalRoute",
    "SessionPageRoute",
    "SignedIn",
    "check_csrf",
    "page_in_one_thread",
    "render",
    "signed_in",
]

log = logging.getLogger("passerelle.portal")


class SignInRequired(Exception):
    """No live session: go to the sign-in page (with a sentence when one was refused)."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or "")
        self.reason = reason


class FormRejected(Exception):
    """A form without its CSRF token, or with another session's."""


@functools.cache
def _templates() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    from passerelle.research.disclosure.rule_text import RULE_TEXT

    env = Environment(
        loader=PackageLoader("passerelle.portal", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["rule_text"] = RULE_TEXT
    return env


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """A page: ``template`` with the session's principal and CSRF token in its context."""
    from fastapi.responses import HTMLResponse

    from passerelle.portal.nav import sections

    principal: Principal | None = getattr(request.state, "principal", None)
    secret = request.cookies.get(SESSION_COOKIE) if principal is not None else None
    shown = sections(principal, request.app.state.hub.now().date()) if principal else []
    html = (
        _templates()
        .get_template(template)
        .render(
            principal=principal,
            sections=shown,
            roles={str(r) for r in principal.roles} if principal is not None else set(),
            csrf=csrf_for(secret) if secret else "",
            path=request.url.path,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})


def _error_page(request: Request, status: int, message: str) -> Response:
    return render(request, "error.html", status=status, status_code=status, message=message)


def _to_signin(request: Request, reason: str | None) -> Response:
    from fastapi.responses import RedirectResponse

    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = "/signin?next=" + quote(target, safe="")
    if reason:
        location += "&refused=1"
    response = RedirectResponse(location, status_code=303)
    if reason:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


class PortalRoute(APIRoute):
    """An HTML route: library errors, dead sessions and bad forms become pages."""

    checks_session_itself: ClassVar[bool] = False

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        from passerelle.api.errors import status_of

        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as exc:
                return _to_signin(request, exc.reason)
            except FormRejected:
                return _error_page(
                    request, 403, "This form expired or came from another page: reload and retry."
                )
            except RequestValidationError as exc:
                if self.checks_session_itself:  # as with SignedIn: the session goes first
                    import anyio.to_thread

                    try:
                        await anyio.to_thread.run_sync(signed_in, request)
                    except SignInRequired as dead:
                        return _to_signin(request, dead.reason)
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body"))
                what = str(first.get("msg", "invalid value")).rstrip(".")
                return _error_page(
                    request, 422, f"{where or 'a value'}: {what}; correct it and retry."
                )
            except PasserelleError as exc:
                return _error_page(request, status_of(exc), str(exc))

        return answer


def signed_in(request: Request) -> Principal:
    """The principal behind the session cookie (the API's ``authenticate``, every request)."""
    from passerelle.hub import authenticate

    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise SignInRequired()
    try:
        principal = authenticate(
            request.app.state.hub,
            secret,
            source=request.client.host if request.client else "unknown",
            limiter=getattr(request.app.state, "auth_limiter", None),
        )
    except AuthenticationError as exc:
        raise SignInRequired(str(exc)) from exc
    request.state.principal = principal
    return principal


SignedIn = Annotated[Principal, Depends(signed_in)]


class SessionPageRoute(PortalRoute):
    """A page that checks its session in its own worker thread (``page_in_one_thread``)
    instead of through ``SignedIn``; a request with an invalid parameter still has its
    session checked first, so a dead one goes to sign-in before any 422 page."""

    checks_session_itself = True


async def page_in_one_thread(
    request: Request, page: Callable[..., Response], /, *args: Any
) -> Response:
    """``page(request, principal, *args)`` for the session's principal, in one thread of
    the requests' pool: FastAPI would check the session (``SignedIn``) in one and run the
    page in another, about 0.15 ms of CPU per hop (``docs/benchmarks.md``)."""
    import anyio.to_thread

    def work() -> Response:
        return page(request, signed_in(request), *args)

    return await anyio.to_thread.run_sync(work)


def check_csrf(request: Request, given: str | None) -> None:
    """Refuse a form whose CSRF value is not this session's."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret or not csrf_matches(csrf_for(secret), given):
        raise FormRejected()
