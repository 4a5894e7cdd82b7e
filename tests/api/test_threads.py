"""``serve``'s thread limits: the requests' pool is capped, the queries have their own."""

from __future__ import annotations

from fastapi.testclient import TestClient

from passerelle.api import create_app
from passerelle.api.threads import ThreadLimits
from tests.api.conftest import SQLITE_ONLY, Api

pytestmark = SQLITE_ONLY


def _tokens() -> int:
    import anyio.to_thread

    return int(anyio.to_thread.current_default_thread_limiter().total_tokens)


def test_serve_caps_the_request_threads_and_gives_queries_a_pool_of_their_own(api: Api) -> None:
    app = create_app(api.hub, threads=ThreadLimits(request_threads=3, query_threads=5))
    with TestClient(app) as client:
        assert client.portal is not None
        assert client.portal.call(_tokens) == 3
        assert app.state.query_limiter.total_tokens == 5
        assert client.get("/health").status_code == 200


def test_an_app_without_limits_keeps_anyios_default(api: Api) -> None:
    app = create_app(api.hub)
    with TestClient(app) as client:
        assert client.portal is not None
        assert client.portal.call(_tokens) == 40
        assert getattr(app.state, "query_limiter", None) is None
