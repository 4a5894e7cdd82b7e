"""How much work one server process takes on at once.

FastAPI runs each request's library call in a worker thread. Python threads share one
interpreter lock, so many threads each waiting on the database make every request slower
(measured: 40 threads served 24 catalog reads a second where 2 served 85, see
``docs/benchmarks.md``). ``serve`` therefore caps the threads answering requests
(``request_threads``) and gives the work that takes seconds or more a pool of its own:
researchers' queries, which wait on their sandboxed child process (``query_threads``),
and ingests, extracts, audit verification and export and the move's steps
(``long_threads``), so neither a burst of queries nor a steward's huge source ever holds
the threads the catalog, the pages and sign-in need.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from fastapi import FastAPI, Request

__all__ = ["ThreadLimits", "in_long_thread", "in_query_thread", "thread_limits"]

T = TypeVar("T")


@dataclass(frozen=True)
class ThreadLimits:
    request_threads: int = 2  # every short request: catalog, pages, sign-in...
    query_threads: int = 4  # researchers' queries (each waits on its sandboxed child)
    long_threads: int = 4  # ingests, extracts, audit verify and export, the move's steps


@asynccontextmanager
async def thread_limits(app: FastAPI) -> AsyncIterator[None]:
    """Apply ``app.state.thread_limits`` (when serving; a test's app keeps anyio's 40)."""
    import anyio
    import anyio.to_thread

    limits: ThreadLimits | None = getattr(app.state, "thread_limits", None)
    if limits is not None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = limits.request_threads
        app.state.query_limiter = anyio.CapacityLimiter(limits.query_threads)
        app.state.long_limiter = anyio.CapacityLimiter(limits.long_threads)
    yield


async def in_query_thread(request: Request, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` in the queries' own pool (the default pool when none was set)."""
    return await _in_pool(request, "query_limiter", call, *args)


async def in_long_thread(request: Request, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` in the pool of work that takes seconds to hours and reads what a
    user names (an ingest's source): it never holds the short requests' threads."""
    return await _in_pool(request, "long_limiter", call, *args)


async def _in_pool(request: Request, pool: str, call: Callable[..., T], *args: Any) -> T:
    import anyio.to_thread

    limiter = getattr(request.app.state, pool, None)
    return await anyio.to_thread.run_sync(functools.partial(call, *args), limiter=limiter)
