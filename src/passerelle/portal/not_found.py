"""What a browser gets for a portal address the hub does not have, a method a portal
page does not take, or a failure no page caught: the error page, not the API's JSON.

The API's handlers stay in charge of every other path; these wrap them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from starlette.responses import Response

__all__ = ["install", "is_portal_path"]

log = logging.getLogger("passerelle.portal")

_PAGES = ("/signin", "/signout", "/portal")


def is_portal_path(path: str) -> bool:
    """Whether ``path`` is one of the portal's addresses (pure)."""
    return path in _PAGES or path.startswith("/portal/")


async def _delegate(handler: Any, request: Request, exc: Exception) -> Response:
    """The API's own answer (its handlers may be plain or async functions)."""
    import inspect

    answer = handler(request, exc)
    if inspect.isawaitable(answer):
        answer = await answer
    return cast("Response", answer)


def install(app: FastAPI) -> None:
    """Answer unknown portal addresses, wrong methods and failures with the error page."""
    from starlette.exceptions import HTTPException

    from passerelle.api.errors import allowed_methods
    from passerelle.portal.routing import render

    api_http = app.exception_handlers[HTTPException]
    api_bug = app.exception_handlers[Exception]

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if not is_portal_path(request.url.path) or exc.status_code not in (404, 405):
            return await _delegate(api_http, request, exc)
        if exc.status_code == 404:
            message = "There is no such page here; start again from the portal's first page."
            return render(request, "error.html", 404, status_code=404, message=message)
        allowed = allowed_methods(request)
        response = render(
            request,
            "error.html",
            405,
            status_code=405,
            message=f"This address does not answer {request.method} requests (it takes {allowed}); "
            "go back to the portal's pages.",
        )
        response.headers["Allow"] = allowed
        return response

    async def on_bug(request: Request, exc: Exception) -> Response:
        if not is_portal_path(request.url.path):
            return await _delegate(api_bug, request, exc)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        message = "The hub failed unexpectedly; the error is logged, tell the hub's operator."
        return render(request, "error.html", 500, status_code=500, message=message)

    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_bug)
