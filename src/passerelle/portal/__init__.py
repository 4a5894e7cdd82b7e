"""The hub's web portal: server-rendered pages over the same library as the API.

Every page calls the ``passerelle.hub`` function its API route calls, with the
principal of the signed-in session, so the rules, refusals and audit events are
the API's. Nothing is loaded from the Internet: the front-end assets are vendored
from the npm registry (``scripts/vendor_assets.py``) and served by the hub.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["include_busiest_pages", "install_portal"]


def include_busiest_pages(app: FastAPI) -> None:
    """Include the catalog's pages, before any other route of ``app``.

    FastAPI tries an app's routes in order, each in Python (about 4 µs a route here):
    after the API's 70 routes, the portal's catalog page paid 0.3 ms a request before
    its own route was reached. No API path is a portal path, so which comes first
    changes no answer, and the portal's routes are not in the OpenAPI document.
    """
    from passerelle.portal import catalog_pages

    app.include_router(catalog_pages.router())


def install_portal(app: FastAPI) -> None:
    """Mount the static assets, the offline ``/docs`` and the portal's pages on ``app``
    (the catalog's are included first of all, by :func:`include_busiest_pages`)."""
    from passerelle.portal import (
        account,
        assets,
        audit_pages,
        checker_pages,
        docs,
        headers,
        not_found,
        operator_pages,
        projects_pages,
        research_pages,
        steward_pages,
    )

    assets.mount(app)
    headers.install(app)
    not_found.install(app)
    app.include_router(docs.router())
    pages = (
        account,
        projects_pages,
        research_pages,
        steward_pages,
        checker_pages,
        audit_pages,
        operator_pages,
    )
    for module in pages:
        app.include_router(module.router())
