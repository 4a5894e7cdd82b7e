"""Ingestion, its record and project extracts (stewards): ``/ingests`` and
``/projects/{id}/extracts``.

The source URL is read by the hub itself, through its storage layer and with
its credentials: a steward-only capability. Schemas are the shipped ones, by
name; a schema file on the server is never named over HTTP.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from passerelle.api.auth import Actor, HubDep
from passerelle.api.errors import ERROR_RESPONSES
from passerelle.api.models import ExtractCreate, IngestCreate
from passerelle.api.params import ItemId, Limit, Offset
from passerelle.hub.ingest_history import IngestRunView
from passerelle.hub.ingestion import ExtractReport, IngestReport
from passerelle.hub.views import Page

__all__ = ["router"]


def router() -> APIRouter:
    r = APIRouter(tags=["ingestion"], responses=ERROR_RESPONSES)

    @r.post(
        "/ingests",
        status_code=201,
        summary="Ingest a source into pseudonymized catalog datasets (stewards)",
    )
    async def ingest(
        request: Request, body: IngestCreate, hub: HubDep, actor: Actor
    ) -> IngestReport:
        import functools

        from passerelle.api.threads import in_long_thread
        from passerelle.hub.ingestion import ingest_dataset

        run = functools.partial(
            ingest_dataset,
            hub,
            actor,
            dataset=body.dataset,
            organization=body.organization,
            source_url=body.source_url,
            schema=body.schema_,
            kind=body.kind,
            classification=body.classification,
            description=body.description,
        )
        return await in_long_thread(request, run)

    @r.get(
        "/ingests",
        summary="The ingestion runs, newest first: counts and quarantine reasons by kind",
    )
    def history(
        hub: HubDep,
        actor: Actor,
        limit: Limit = 50,
        offset: Offset = 0,
        dataset: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=64,
                pattern=r"^[^\x00-\x1f\x7f/]+$",
                description="Keep the runs of this dataset name.",
            ),
        ] = None,
    ) -> Page[IngestRunView]:
        from passerelle.hub import list_ingests

        return list_ingests(hub, actor, dataset=dataset, limit=limit, offset=offset)

    @r.post(
        "/projects/{project_id}/extracts",
        status_code=201,
        summary="Write a project's own copy of a dataset, pseudonyms re-keyed (stewards)",
    )
    async def extract(
        request: Request, project_id: ItemId, body: ExtractCreate, hub: HubDep, actor: Actor
    ) -> ExtractReport:
        from passerelle.api.threads import in_long_thread
        from passerelle.hub.ingestion import extract_dataset

        return await in_long_thread(request, extract_dataset, hub, actor, project_id, body.dataset)

    return r
