"""``/datasets``: the catalog entries and their versions."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from passerelle.api.auth import Actor, Bearer, HubDep
from passerelle.api.errors import ERROR_RESPONSES
from passerelle.api.models import DatasetCreate, DatasetUpdate, ListPage, VersionCreate
from passerelle.api.one_thread import CallerRoute, answer_as_caller
from passerelle.api.params import DatasetName, Limit, Offset, Search, list_page
from passerelle.hub.views import DatasetFile, DatasetVersionView, DatasetView, Page

__all__ = ["router"]


def router() -> APIRouter:
    r = APIRouter(prefix="/datasets", tags=["datasets"], responses=ERROR_RESPONSES)

    @r.post("", status_code=201, summary="Register a dataset (stewards)")
    def create(body: DatasetCreate, hub: HubDep, actor: Actor) -> DatasetView:
        from passerelle.hub import create_dataset
        from passerelle.hub.coverage import parse_coverage

        return create_dataset(
            hub,
            actor,
            name=body.name,
            organization=body.organization,
            classification=body.classification,
            description=body.description,
            schema=[c.model_dump() for c in body.schema_],
            format=body.format,
            discoverable=body.discoverable,
            locations=body.locations,
            covers=parse_coverage(body.covers),
        )

    async def list_all(
        request: Request,
        credentials: Bearer,
        limit: Limit = 100,
        offset: Offset = 0,
        q: Search = None,
    ) -> Response:
        from passerelle.hub import list_datasets

        return await answer_as_caller(
            request, credentials, list_datasets, limit=limit, offset=offset, search=q
        )

    r.add_api_route(  # the hottest read: in one thread (api/one_thread.py)
        "",
        list_all,
        methods=["GET"],
        summary="List the catalog entries the caller may see",
        response_model=Page[DatasetView],
        route_class_override=CallerRoute,
    )

    @r.get("/{name}", summary="Read a catalog entry")
    def read(name: DatasetName, hub: HubDep, actor: Actor) -> DatasetView:
        from passerelle.hub import get_dataset

        return get_dataset(hub, actor, name)

    @r.patch("/{name}", summary="Change a dataset's description, visibility, locations or period")
    def update(name: DatasetName, body: DatasetUpdate, hub: HubDep, actor: Actor) -> DatasetView:
        from passerelle.hub import update_dataset
        from passerelle.hub.coverage import parse_coverage

        return update_dataset(
            hub,
            actor,
            name,
            description=body.description,
            discoverable=body.discoverable,
            locations=body.locations,
            covers=None if body.covers is None else parse_coverage(body.covers),
        )

    @r.post(
        "/{name}/versions",
        status_code=201,
        summary="Add a version (the same digest again returns the existing one)",
    )
    def add(
        name: DatasetName, body: VersionCreate, hub: HubDep, actor: Actor
    ) -> DatasetVersionView:
        from passerelle.hub import add_version

        return add_version(
            hub,
            actor,
            name,
            digest=body.digest,
            schema=[c.model_dump() for c in body.schema_],
            row_count=body.row_count,
            files=[DatasetFile(**f.model_dump()) for f in body.files],
            note=body.note,
        )

    @r.get("/{name}/versions", summary="A dataset's version history")
    def versions(
        name: DatasetName, hub: HubDep, actor: Actor, limit: Limit = 100, offset: Offset = 0
    ) -> ListPage[DatasetVersionView]:
        from passerelle.hub import list_versions

        return list_page(list_versions(hub, actor, name), limit, offset)

    return r
