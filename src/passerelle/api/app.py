"""The hub's HTTP API, built from a ``Hub`` (nothing happens at import time).

Routes are thin: parse and validate the request, call one ``passerelle.hub``
function with the authenticated ``Principal``, render its view. Permissions,
states and the audit trail are the library's business. The web portal
(``passerelle.portal``) is mounted beside the API on the same app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from passerelle.api.threads import ThreadLimits
    from passerelle.hub.hub import Hub

__all__ = ["create_app"]

_DESCRIPTION = """\
The passerelle hub: catalog, research projects, grants, users, tokens, the
tamper-evident audit log, research queries and releases, ingestion and the live
storage move. Every route but `/health`, `/metrics`, `/audit/head` and the
public catalog (`/catalog.jsonld`, `/catalog.ttl`) needs
`Authorization: Bearer pst_...`. Every error has the body
`{"error": {"status", "code", "message"}}`. See `docs/api.md`.
"""

_TAGS = [
    {"name": "organizations", "description": "Organizations that supply data."},
    {"name": "datasets", "description": "The catalog: datasets and their versions."},
    {"name": "projects", "description": "Research projects, their status and members."},
    {"name": "grants", "description": "Datasets granted to approved projects."},
    {
        "name": "catalog",
        "description": "The catalog in DCAT-AP 3 (public without a token); partners' catalogs.",
    },
    {"name": "users", "description": "Users and their roles."},
    {"name": "tokens", "description": "API tokens: hashed, expiring, revocable."},
    {"name": "audit", "description": "The hash-chained audit log."},
    {"name": "research", "description": "SQL over a project's granted datasets, and results."},
    {"name": "releases", "description": "Query results checked for disclosure, then released."},
    {"name": "ingestion", "description": "Sources ingested as datasets; project extracts."},
    {"name": "migration", "description": "Moving the hub's storage live to another cloud."},
    {"name": "replicas", "description": "Continuous copies of the hub's store on other clouds."},
    {"name": "metrics", "description": "Prometheus metrics of the live move, without a token."},
    {"name": "compliance", "description": "The compliance report, for auditors and admins."},
    {"name": "health", "description": "Liveness, without a token."},
]


def create_app(hub: Hub, *, threads: ThreadLimits | None = None) -> FastAPI:
    """The FastAPI application serving ``hub``; ``threads`` caps the work one process
    takes on at once (``passerelle serve`` sets it; see ``api/threads.py``)."""
    from fastapi import FastAPI

    from passerelle import __version__
    from passerelle.api import (
        audit,
        catalog,
        compliance,
        datasets,
        grants,
        health,
        ingests,
        migration,
        orgs,
        projects,
        queries,
        releases,
        replicas,
        tokens,
        users,
    )
    from passerelle.api.auth import auth_lifespan, install_auth
    from passerelle.api.errors import install_handlers
    from passerelle.portal import include_busiest_pages, install_portal

    app = FastAPI(
        title="passerelle hub",
        version=__version__,
        description=_DESCRIPTION,
        openapi_tags=_TAGS,
        lifespan=auth_lifespan,
        docs_url=None,  # the portal serves /docs from the hub's own files (no CDN)
        redoc_url=None,
    )
    app.state.hub = hub
    app.state.thread_limits = threads
    if hub is not None:  # the OpenAPI document is also built without a hub
        install_auth(app, hub)
    install_handlers(app)
    include_busiest_pages(app)  # the portal's catalog is matched first (no API path is its)
    modules = (health, orgs, datasets, projects, grants, users, tokens, audit, catalog)
    for module in (*modules, queries, releases, ingests, migration, replicas, compliance):
        app.include_router(module.router())
    app.include_router(migration.metrics_router())
    install_portal(app)

    return app
