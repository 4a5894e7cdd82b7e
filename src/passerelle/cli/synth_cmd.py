"""``passerelle synth``: write a deterministic synthetic population and its extracts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def _synth(
    persons: Annotated[int, typer.Option(min=1, help="How many persons (up to 10,000,000).")],
    out: Annotated[Path, typer.Option(help="Folder to write the extracts into.")],
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 1,
    defect_rate: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="Fraction of rows made defective.")
    ] = 0.0,
    stays_per_person: Annotated[
        float, typer.Option(min=0.0, help="Mean hospital stays per person.")
    ] = 2.0,
    claims_per_person: Annotated[
        float, typer.Option(min=0.0, help="Mean outpatient claims per person.")
    ] = 3.0,
    fhir_fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Fraction of persons in the FHIR export.")
    ] = 0.2,
) -> None:
    """Write synthetic persons, PMSI stays (CSV), DCIR claims (Parquet) and a FHIR export."""
    from passerelle.cli.render import console
    from passerelle.synth import synthesize

    result = synthesize(
        out,
        persons=persons,
        seed=seed,
        defect_rate=defect_rate,
        stays_per_person=stays_per_person,
        claims_per_person=claims_per_person,
        fhir_fraction=fhir_fraction,
    )
    c = console()
    c.print(f"wrote a synthetic population of {persons:,} persons (seed {seed}) to {out}")
    for name, rows in result.rows.items():
        c.print(f"  {name:<12} {rows:>12,} rows")
    for source, count in sorted(result.defects.items()):
        c.print(f"  defective rows in {source}: {count:,} (listed in defects.csv)")
    c.print("  manifest.json describes the files; schemas: passerelle/ingest/schemas/*.toml")


def register(app: typer.Typer) -> None:
    app.command("synth")(_synth)
