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

__all__ = ["HUB_VARIABLE", "THREADS_VARIABLE", "worker_app"]

HUB_VARIABLE = "PASSERELLE_SERVE_HUB"
THREADS_VARIABLE = "PASSERELLE_SERVE_THREADS"  # "request_threads,query_threads,long_threads"


def worker_app() -> FastAPI:
    """This process's app over the hub in ``$PASSERELLE_SERVE_HUB`` (a uvicorn factory)."""
    from passerelle.api import create_app
    from passerelle.api.heap import settle_now_and_after_warm_up
    from passerelle.api.threads import ThreadLimits
    from passerelle.hub import Hub

    requests, queries, long = (int(n) for n in os.environ[THREADS_VARIABLE].split(","))
    limits = ThreadLimits(requests, queries, long)
    app = create_app(Hub.open(os.environ[HUB_VARIABLE]), threads=limits)
    settle_now_and_after_warm_up()  # short full collections in a long-running process
    return app
