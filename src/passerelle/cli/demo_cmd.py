"""``passerelle demo``: the story a new user runs first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def _demo(
    workdir: Annotated[
        Path | None, typer.Option(help="Folder for the demo's hub and its two 'clouds'.")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--from", help="First cloud (default: a local folder).")
    ] = None,
    destination: Annotated[
        str | None, typer.Option("--to", help="Second cloud (default: another local folder).")
    ] = None,
    persons: Annotated[
        int, typer.Option(min=100, max=1_000_000, help="Synthetic persons in the hub.")
    ] = 2000,
    archive: Annotated[
        int, typer.Option(min=0, max=100_000, help="Archived 64 KiB files the hub also holds.")
    ] = 200,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Serve the demo hub on the portal instead: sign in as each role with the "
            "printed tokens and do the move yourself.",
        ),
    ] = False,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port for --serve.")] = 8700,
    move_bandwidth: Annotated[
        str, typer.Option(help="Pace of the backlog copy under --serve, to watch it move.")
    ] = "1MiB/s",
) -> None:
    """Build a synthetic hub, keep researchers querying, move it live to a second cloud."""
    import tempfile

    from passerelle.cli.render import console, human_size
    from passerelle.demo import run_live_demo
    from passerelle.errors import TerminalError

    base = workdir or Path(tempfile.mkdtemp(prefix="passerelle-demo-"))
    if serve:
        _serve_demo(base, persons, archive, destination, port, move_bandwidth)
        return
    c = console()
    c.print(f"[bold]passerelle demo[/]: a research hub moved live between two clouds ({base})")
    started = [0.0]

    def step(text: str) -> None:
        c.print(f"  [green]✓[/] {text}")

    import time

    started[0] = time.perf_counter()
    with c.status("working...", spinner="dots"):
        story = run_live_demo(
            base,
            source_url=source,
            destination_url=destination,
            persons=persons,
            archive_objects=archive,
            on_step=step,
        )
    total = time.perf_counter() - started[0]
    r = story.researchers
    lat = r.summary()
    rate = story.bytes_moved / story.move_seconds if story.move_seconds else 0.0
    c.print()
    c.print("[bold]What moved[/]")
    c.print(
        f"  {story.persons:,} synthetic persons; {story.rows_in:,} source rows ingested = "
        f"{story.rows_accepted:,} accepted + {story.rows_quarantined:,} quarantined with reasons"
    )
    c.print(
        f"  {story.objects_moved:,} objects ({human_size(story.bytes_moved)}) from "
        f"{story.source_url} to {story.destination_url}"
    )
    c.print(
        f"  writes during the move, mirrored to both clouds: {'; '.join(story.writes_during_move)}"
    )
    c.print("[bold]How fast[/]")
    c.print(
        f"  live move in {story.move_seconds:.1f} s ({human_size(int(rate))}/s), "
        f"whole demo in {total:.1f} s"
    )
    c.print("[bold]The proof[/]")
    c.print(
        f"  {story.verified_deep:,} objects re-read at the destination and their SHA-256 matched "
        f"the digest computed while copying; {story.mirrored_writes_proven} mirrored "
        f"write{'' if story.mirrored_writes_proven == 1 else 's'} proven by digests on both sides"
    )
    c.print(
        f"  audit chain {'verified' if story.audit_ok else '[red]BROKEN[/]'}: "
        f"{story.audit_events:,} events, every access decision and phase change"
    )
    c.print("[bold]What the researchers saw[/]")
    c.print(
        f"  {r.queries} queries, {len(r.failures)} failures, "
        f"{len(r.different)} results different from before the move"
    )
    c.print(
        f"  latency median {lat['idle_median_ms']:.0f} ms idle, "
        f"{lat['move_median_ms']:.0f} ms during the move (p99 {lat['idle_p99_ms']:.0f} / "
        f"{lat['move_p99_ms']:.0f} ms)"
    )
    if not story.ok:
        first = (r.failures or r.different or ["audit chain"])[0]
        raise TerminalError(f"the demo found a problem: {first}; see {base}")
    c.print("[green bold]zero failed researcher queries; nothing lost; proof complete.[/]")


def _serve_demo(
    base: Path, persons: int, archive: int, destination: str | None, port: int, bandwidth: str
) -> None:
    from passerelle.cli.render import console
    from passerelle.demo.serve import ServedDemo, serve_demo
    from passerelle.migration import parse_rate

    c = console()
    pace = int(parse_rate(bandwidth))
    c.print(f"[bold]passerelle demo --serve[/]: a research hub for you to use ({base})")

    def ready(served: ServedDemo) -> None:
        c.print()
        c.print(f"Open [bold]{served.url}[/] in a browser (the API's docs are at /docs).")
        c.print("Sign in with the token of a person:")
        for user, token in served.tokens.items():  # whole, never wrapped: they are pasted
            c.print(
                f"  {user:<7} {served.roles[user]:<15} {token}", soft_wrap=True, highlight=False
            )
        c.print(
            "  rita runs a query and asks for a release; oscar checks it; aude verifies the "
            "audit chain and sees where each dataset lives; claire reviews ingests and grants;"
        )
        c.print(
            f"  omar starts the move on [bold]The move[/] with the destination "
            f"[bold]{served.destination_url}[/] and watches it, then cuts over."
        )
        c.print("Press Ctrl+C to stop; the hub stays in the folder above.", highlight=False)

    serve_demo(
        base,
        port=port,
        persons=persons,
        archive_objects=archive,
        destination_url=destination,
        bandwidth=pace,
        mark=lambda text: c.print(f"  [green]✓[/] {text}"),
        on_ready=ready,
        say=lambda text: c.print(f"  [dim]{text}[/]"),
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(_demo)
