"""The hottest reads answered in one worker thread: the token check, the library call and
the answer's validation and JSON, where FastAPI takes three.

FastAPI runs a sync dependency (``Actor``), a sync endpoint and the validation of what
it returned each in a worker thread of its own, and each hop costs the process about
0.15 ms of CPU (measured, ``docs/benchmarks.md``), a tenth of a catalog read. A route
declared with ``route_class_override=CallerRoute`` takes the bearer token as ``Bearer``
(read on the event loop, no I/O) and returns ``await answer_as_caller(...)``: in one
thread, ``current_principal`` (the ``Actor`` dependency's own check: same refusals,
throttle and audit), then the library call, then the route's own response model
validating and serializing the result exactly as FastAPI would have.

The order of answers is kept: a request with an invalid parameter is authenticated
first (``CallerRoute``), so a missing or wrong token is 401 (429 when throttled) before
any 422, as on the routes with the ``Actor`` dependency.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

if TYPE_CHECKING:
    from fastapi import Request
    from fastapi.security import HTTPAuthorizationCredentials
    from starlette.responses import Response

    from passerelle.hub.hub import Hub
    from passerelle.hub.rules import Principal

__all__ = ["CallerRoute", "answer_as_caller"]


class CallerRoute(APIRoute):
    """A route whose endpoint authenticates its caller itself (``answer_as_caller``):
    invalid parameters are answered only once the token has passed."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            import anyio.to_thread

            from passerelle.api.auth import bearer_credentials, current_principal

            try:
                return await handler(request)
            except RequestValidationError:
                credentials = await bearer_credentials(request)
                hub = request.app.state.hub
                await anyio.to_thread.run_sync(current_principal, request, hub, credentials)
                raise

        return answer


async def answer_as_caller(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    call: Callable[..., Any],
    /,
    **arguments: Any,
) -> Response:
    """``call(hub, principal, **arguments)`` for the token's holder, answered as the
    route's response model, all in one thread of the requests' pool."""
    import anyio.to_thread

    from passerelle.api.auth import current_principal

    hub: Hub = request.app.state.hub

    def work() -> Response:
        actor: Principal = current_principal(request, hub, credentials)
        return _as_response_model(request, call(hub, actor, **arguments))

    return await anyio.to_thread.run_sync(work)


def _as_response_model(request: Request, content: Any) -> Response:
    """``content`` validated and serialized by the route's response model, as FastAPI's
    own fast path does (``TypeAdapter.dump_json``), so the bytes are the same."""
    from fastapi.exceptions import ResponseValidationError
    from starlette.responses import Response

    route = request.scope["route"]
    field = route.response_field
    value, errors = field.validate(content, {}, loc=("response",))
    if errors:
        raise ResponseValidationError(errors=errors, body=content)
    body = field.serialize_json(
        value,
        include=route.response_model_include,
        exclude=route.response_model_exclude,
        by_alias=route.response_model_by_alias,
        exclude_unset=route.response_model_exclude_unset,
        exclude_defaults=route.response_model_exclude_defaults,
        exclude_none=route.response_model_exclude_none,
    )
    return Response(body, status_code=route.status_code or 200, media_type="application/json")
