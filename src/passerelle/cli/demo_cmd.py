"""``passerelle demo``: the guided tour a new user runs first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def _demo(
    workdir: Annotated[
        Path | None, typer.Option(help="Folder for the demo's two 'clouds'.")
    ] = None,
    objects: Annotated[
        int, typer.Option(min=1, max=100_000, help="How many objects to move.")
    ] = 200,
) -> None:
    """Walk through passerelle end to end on two local folders (no server needed)."""
    import tempfile

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from passerelle.cli.render import console, human_size
    from passerelle.demo import run_storage_tour
    from passerelle.errors import TerminalError

    base = workdir or Path(tempfile.mkdtemp(prefix="passerelle-demo-"))
    c = console()
    c.print(f"[bold]passerelle demo[/]: two local folders stand in for two clouds, under {base}")
    with Progress(
        TextColumn("{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=c,
        transient=True,
    ) as progress:
        tasks: dict[str, object] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done)  # type: ignore[arg-type]

        result = run_storage_tour(base, objects=objects, on_progress=on_progress)
    rate = result.bytes / result.seconds if result.seconds else 0.0
    c.print(f"1. wrote {result.objects} synthetic extract files to {result.source_url}")
    c.print(
        f"2. planned and migrated them to {result.destination_url}: "
        f"{human_size(result.bytes)} in {result.seconds:.2f} s ({human_size(int(rate))}/s), "
        "hashing every byte (SHA-256 + MD5); the journal is demo.journal"
    )
    c.print(
        f"3. re-read the destination: {result.verified}/{result.objects} objects match "
        "the digest computed at the source and the one stored on the object"
    )
    if not result.ok:
        raise TerminalError(
            f"{len(result.mismatches)} objects failed verification, "
            f"first {result.mismatches[0]}; see {base}."
        )
    c.print("[green]proof complete[/]: every byte accounted for.")


def register(app: typer.Typer) -> None:
    app.command("demo")(_demo)
