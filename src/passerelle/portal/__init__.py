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

__all__ = ["install_portal"]


def install_portal(app: FastAPI) -> None:
    """Mount the static assets, the offline ``/docs`` and the portal's pages on ``app``."""
    from passerelle.portal import (
        account,
        assets,
        audit_pages,
        catalog_pages,
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
        catalog_pages,
        projects_pages,
        research_pages,
        steward_pages,
        checker_pages,
        audit_pages,
        operator_pages,
    )
    for module in pages:
        app.include_router(module.router())
