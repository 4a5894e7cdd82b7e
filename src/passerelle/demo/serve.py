"""``passerelle demo --serve``: the demo's hub served on the portal, for people to use.

The hub is built as for the live demo (``build_demo_hub``), then served by the same
app as ``passerelle serve``. Two helpers run beside it, as a real hub's would: a
researcher's queries in the background (so the operator's chart shows what the
move does to research) and the backlog copier, which copies the backlog whenever an
operator has started a move from the portal (what ``passerelle hub migrate run``
does on a real hub), paced to ``bandwidth`` so the move can be watched.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from passerelle.demo.build import DemoHub
    from passerelle.hub.rules import Principal

__all__ = ["ServedDemo", "serve_demo"]

QUERY_EVERY_S = 3.0
WATCH_EVERY_S = 1.0


@dataclass(frozen=True)
class ServedDemo:
    url: str
    tokens: dict[str, str]
    roles: dict[str, str]  # user -> role
    destination_url: str  # where the operator may move the hub
    workdir: Path


def _check_port(host: str, port: int) -> None:
    from passerelle.errors import UsageError

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port"
            ) from exc


def _acting_as(demo: DemoHub, name: str, say: Callable[[str], None]) -> Principal | None:
    """``name``'s principal now, from their token as every request (None, said once, when
    an admin disabled them or revoked the token: the helper then stops)."""
    from passerelle.errors import AuthenticationError
    from passerelle.hub import authenticate

    try:
        return authenticate(demo.hub, demo.tokens[name])
    except AuthenticationError as exc:
        say(f"the helper acting as {name} stopped: {exc}")
        return None


def _researcher(demo: DemoHub, stop: threading.Event, say: Callable[[str], None]) -> None:
    from passerelle.demo.live_hub import QUERIES
    from passerelle.errors import PasserelleError
    from passerelle.workspace import run_query

    queries = list(QUERIES.values())
    i = 0
    while not stop.wait(QUERY_EVERY_S):
        rita = _acting_as(demo, "rita", say)
        if rita is None:
            return
        try:
            run_query(demo.hub, rita, demo.project, queries[i % len(queries)])
        except PasserelleError as exc:
            say(f"a background query was refused: {exc}")
        i += 1


def _copier(
    demo: DemoHub, bandwidth: int, stop: threading.Event, say: Callable[[str], None]
) -> None:
    """Copy each started move's backlog once, as omar (the operator)."""
    from passerelle.errors import PasserelleError
    from passerelle.live import move_status, run_backlog
    from passerelle.migration import RunOptions

    copied: set[tuple[int, str | None]] = set()
    while not stop.wait(WATCH_EVERY_S):
        status = move_status(demo.hub)
        move = (status.generation, status.journal)
        if status.phase != "mirroring" or move in copied:
            continue
        omar = _acting_as(demo, "omar", say)
        if omar is None:
            return
        say(f"copying the backlog to {status.destination_url}")
        try:
            summary = run_backlog(demo.hub, omar, RunOptions(max_bandwidth=bandwidth), stop=stop)
        except PasserelleError as exc:
            say(f"the backlog copy stopped: {exc}")
            copied.add(move)
            continue
        if stop.is_set():
            return
        copied.add(move)
        say(
            f"backlog copied: {summary.copied} objects, {len(summary.failed)} failed; "
            "the operator may cut over"
        )


def serve_demo(
    workdir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8700,
    persons: int = 2000,
    archive_objects: int = 200,
    destination_url: str | None = None,
    bandwidth: int = 1 << 20,
    mark: Callable[[str], None] = lambda _: None,
    on_ready: Callable[[ServedDemo], None] = lambda _: None,
    say: Callable[[str], None] = lambda _: None,
) -> None:
    """Build the demo hub under ``workdir`` and serve it until interrupted (Ctrl+C)."""
    import uvicorn

    from passerelle.api import create_app
    from passerelle.api.threads import ThreadLimits
    from passerelle.demo.build import CAST, build_demo_hub

    _check_port(host, port)
    demo = build_demo_hub(workdir, persons=persons, archive_objects=archive_objects, mark=mark)
    stop = threading.Event()
    helpers = [
        threading.Thread(target=_researcher, args=(demo, stop, say), daemon=True),
        threading.Thread(target=_copier, args=(demo, bandwidth, stop, say), daemon=True),
    ]
    try:
        for helper in helpers:
            helper.start()
        shown = f"[{host}]" if ":" in host else host
        on_ready(
            ServedDemo(
                url=f"http://{shown}:{port}/",
                tokens=dict(demo.tokens),
                roles={"admin": "admin"} | {name: role for name, role, _ in CAST},
                destination_url=destination_url or f"file://{(workdir / 'cloud-b').resolve()}",
                workdir=workdir,
            )
        )
        app = create_app(demo.hub, threads=ThreadLimits())
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        stop.set()
        for helper in helpers:
            helper.join(timeout=30)
        demo.hub.close()
