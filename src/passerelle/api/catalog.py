"""The catalog in DCAT-AP 3 / HealthDCAT-AP, and the partners' catalogs imported here.

``GET /catalog.jsonld`` and ``GET /catalog.ttl`` need no token: without one they answer
the public view (discoverable datasets, no row data nor counts); with one, the view
``rules.decide`` gives its holder. ``/catalog/remote`` lists the remote datasets and
``POST /catalog/imports`` imports a partner's export (stewards), its body read up to
the import limit and no further. The anonymous view is served from one ``PublicCatalog``
per app, built again only after an audited change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from passerelle.api.auth import Actor, HubDep, MaybeActor
from passerelle.api.errors import ERROR_RESPONSES
from passerelle.api.params import Limit, Offset, Search
from passerelle.hub.views import Page, RemoteDatasetView, RemoteImportView

if TYPE_CHECKING:
    from passerelle.hub.catalog_export import PublicCatalog
    from passerelle.hub.dcat import Format
    from passerelle.hub.hub import Hub
    from passerelle.hub.rules import Principal

__all__ = ["router"]

_Source = Annotated[
    str, Query(min_length=1, max_length=63, description="Your name for the partner hub.")
]
_OptionalSource = Annotated[
    str | None, Query(min_length=1, max_length=63, description="Only this partner's entries.")
]
_MEDIA = {"jsonld": "application/ld+json", "turtle": "text/turtle; charset=utf-8"}
_PUBLIC = Annotated[
    bool, Query(description="The public view even with a token (audited as its holder).")
]


def _catalog(
    hub: Hub, actor: Principal | None, format: Format, public: bool, cache: PublicCatalog
) -> Response:
    from passerelle.hub.catalog_export import export_catalog

    if actor is None:
        text = cache.text(hub, format)
    else:
        text = export_catalog(hub, actor, format, public=public)
    headers = {"Vary": "Authorization"}
    if actor is not None:
        headers["Cache-Control"] = "no-store"
    return Response(text, media_type=_MEDIA[format], headers=headers)


def router() -> APIRouter:
    from passerelle.hub.catalog_export import PublicCatalog

    r = APIRouter(tags=["catalog"], responses=ERROR_RESPONSES)
    public_catalog = PublicCatalog()  # this app's anonymous view, built once per change
    described: dict[int | str, dict[str, Any]] = {
        200: {"description": "The catalog", "content": {"application/ld+json": {}}}
    }

    @r.get(
        "/catalog.jsonld",
        summary="The catalog in DCAT-AP 3 JSON-LD (no token: the public view)",
        response_class=Response,
        responses=described,
    )
    def jsonld(hub: HubDep, actor: MaybeActor, public: _PUBLIC = False) -> Response:
        return _catalog(hub, actor, "jsonld", public, public_catalog)

    @r.get(
        "/catalog.ttl",
        summary="The catalog in DCAT-AP 3 Turtle (no token: the public view)",
        response_class=Response,
        responses={200: {"description": "The catalog", "content": {"text/turtle": {}}}},
    )
    def turtle(hub: HubDep, actor: MaybeActor, public: _PUBLIC = False) -> Response:
        return _catalog(hub, actor, "turtle", public, public_catalog)

    @r.get("/catalog/remote", summary="The partners' datasets imported here (found, not queried)")
    def remote(
        hub: HubDep,
        actor: Actor,
        q: Search = None,
        source: _OptionalSource = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Page[RemoteDatasetView]:
        from passerelle.hub.remote_catalog import list_remote_datasets

        return list_remote_datasets(hub, actor, search=q, source=source, limit=limit, offset=offset)

    @r.post(
        "/catalog/imports",
        status_code=201,
        summary="Import a partner's DCAT-AP catalog (JSON-LD, Turtle, RDF/XML) (stewards)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/ld+json": {},
                    "text/turtle": {},
                    "application/rdf+xml": {},
                },
            }
        },
    )
    async def import_(
        request: Request, hub: HubDep, actor: Actor, source: _Source
    ) -> RemoteImportView:
        from passerelle.api.threads import in_long_thread
        from passerelle.errors import UsageError
        from passerelle.hub.dcat_import import MAX_BYTES
        from passerelle.hub.remote_catalog import import_catalog

        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BYTES:
                raise UsageError(
                    f"the catalog file is over the {MAX_BYTES} bytes allowed; "
                    "ask the partner for a smaller export"
                )

        def run() -> RemoteImportView:
            return import_catalog(hub, actor, bytes(body), source=source)

        return await in_long_thread(request, run)

    return r
