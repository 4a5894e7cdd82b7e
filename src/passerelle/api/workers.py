"""The app of each process of ``passerelle serve --workers N``.

uvicorn starts its worker processes from an import string, so each one opens the hub
itself: the folder named in ``$PASSERELLE_SERVE_HUB`` (set by ``serve``). They share
nothing but the database, whose locks already order audit appends across processes
(PostgreSQL's advisory lock, SQLite's write lock); the failed-sign-in limits are
counted per process.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["HUB_VARIABLE", "worker_app"]

HUB_VARIABLE = "PASSERELLE_SERVE_HUB"


def worker_app() -> FastAPI:
    """This process's app over the hub in ``$PASSERELLE_SERVE_HUB`` (a uvicorn factory)."""
    from passerelle.api import create_app
    from passerelle.hub import Hub

    return create_app(Hub.open(os.environ[HUB_VARIABLE]))
