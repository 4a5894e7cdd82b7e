"""Ingestion and project extracts (stewards): ``/ingests`` and ``/projects/{id}/extracts``.

The source URL is read by the hub itself, through its storage layer and with
its credentials: a steward-only capability. Schemas are the shipped ones, by
name; a schema file on the server is never named over HTTP.
"""

from __future__ import annotations

from fastapi import APIRouter

from passerelle.api.auth import Actor, HubDep
from passerelle.api.errors import ERROR_RESPONSES
from passerelle.api.models import ExtractCreate, IngestCreate
from passerelle.api.params import ItemId
from passerelle.hub.ingestion import ExtractReport, IngestReport

__all__ = ["router"]


def router() -> APIRouter:
    r = APIRouter(tags=["ingestion"], responses=ERROR_RESPONSES)

    @r.post(
        "/ingests",
        status_code=201,
        summary="Ingest a source into pseudonymized catalog datasets (stewards)",
    )
    def ingest(body: IngestCreate, hub: HubDep, actor: Actor) -> IngestReport:
        from passerelle.hub.ingestion import ingest_dataset

        return ingest_dataset(
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

    @r.post(
        "/projects/{project_id}/extracts",
        status_code=201,
        summary="Write a project's own copy of a dataset, pseudonyms re-keyed (stewards)",
    )
    def extract(
        project_id: ItemId, body: ExtractCreate, hub: HubDep, actor: Actor
    ) -> ExtractReport:
        from passerelle.hub.ingestion import extract_dataset

        return extract_dataset(hub, actor, project_id, body.dataset)

    return r
