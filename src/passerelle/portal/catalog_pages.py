"""The catalog: search the entries one may see, and read one (columns, classification,
where it lives); beside them, the partners' datasets imported here (found, never queried)."""

from __future__ import annotations

from time import monotonic
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Query, Request

from passerelle.portal.params import PageNo, page_count
from passerelle.portal.routing import (
    PortalRoute,
    SessionPageRoute,
    SignedIn,
    page_in_one_thread,
    render,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.responses import Response

    from passerelle.hub.rules import Principal
    from passerelle.hub.views import Page, RemoteDatasetView

__all__ = ["PAGE_SIZE", "REMOTE_PRESENCE_TTL", "router"]

PAGE_SIZE = 25
REMOTE_PRESENCE_TTL = 2.0
"""Seconds a process trusts its last answer to "were partners' catalogs imported?"."""
_Search = Annotated[str | None, Query(max_length=200)]
_Name = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f/]+$")]


def router() -> APIRouter:
    r = APIRouter(prefix="/portal/catalog", route_class=PortalRoute, include_in_schema=False)

    async def catalog(request: Request, q: _Search = None, page: PageNo = 1) -> Response:
        return await page_in_one_thread(request, _catalog, q, page)

    # the portal's busiest page: session, catalog and template in one thread
    r.add_api_route("", catalog, methods=["GET"], route_class_override=SessionPageRoute)

    @r.get("/{name}")
    def dataset(request: Request, actor: SignedIn, name: _Name) -> Response:
        from passerelle.hub import Action, get_dataset, list_versions
        from passerelle.hub.rules import decide

        hub = request.app.state.hub
        entry = get_dataset(hub, actor, name)
        versions = list_versions(hub, actor, name)
        ingests = decide(actor, Action.INGEST_READ, today=hub.now().date()).allowed
        return render(
            request, "dataset.html", dataset=entry, versions=versions, show_ingests=ingests
        )

    return r


def _catalog(request: Request, actor: Principal, q: str | None, page: int) -> Response:
    from passerelle.hub import list_datasets

    found = list_datasets(
        request.app.state.hub,
        actor,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
        search=q,
    )
    pages = page_count(found.total, PAGE_SIZE)
    remote = _remote(request, actor, q)
    return render(
        request,
        "catalog.html",
        found=found,
        remote=remote,
        q=q or "",
        page=page,
        pages=pages,
    )


def _remote(request: Request, actor: Principal, q: str | None) -> Page[RemoteDatasetView] | None:
    """The first remote datasets matching ``q``, for those the rules let read them (none
    imported: no read, so the common page costs no audit event more)."""
    from passerelle.hub.remote_catalog import any_remote_datasets, list_remote_datasets
    from passerelle.hub.rules import Action, role_may

    hub = request.app.state.hub
    if not role_may(actor, Action.REMOTE_CATALOG_READ):
        return None
    presence = getattr(request.app.state, "remote_presence", None)
    if presence is None:
        presence = request.app.state.remote_presence = RemotePresence(
            lambda: any_remote_datasets(hub)
        )
    if not presence():
        return None
    return list_remote_datasets(hub, actor, search=q, limit=PAGE_SIZE)


class RemotePresence:
    """``read()``'s answer, read again at most every :data:`REMOTE_PRESENCE_TTL` seconds.

    Whether any partner's catalog is imported changes only with ``catalog import`` and
    ``remove``, yet asking cost the busiest page a tenth of its CPU (a connection of its
    own). A stale answer only shows or hides the remote section for those seconds: the
    remote datasets themselves are always read, rules decided and audited, when shown."""

    def __init__(self, read: Callable[[], bool]) -> None:
        self._read = read
        self._known: tuple[float, bool] | None = None  # (when read, the answer)

    def __call__(self) -> bool:
        now = monotonic()
        known = self._known
        if known is None or now - known[0] >= REMOTE_PRESENCE_TTL:
            known = self._known = (now, self._read())
        return known[1]
