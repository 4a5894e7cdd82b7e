"""``providers list|show``: the provider profiles passerelle knows."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["register"]


def _list() -> None:
    """List provider profiles with jurisdiction and certifications."""
    from rich.table import Table

    from passerelle.cli.render import console
    from passerelle.providers import load_profiles

    table = Table(
        "name",
        "provider",
        "legal home",
        "non-EU law exposure",
        "certifications",
        "regions",
        "egress / GB",
    )
    for p in sorted(load_profiles().values(), key=lambda p: p.name):
        certs = list(p.certifications) + (["SecNumCloud"] if p.secnumcloud else [])
        table.add_row(
            p.name,
            p.display_name,
            p.legal_home,
            ", ".join(p.non_eu_law_exposure) or "none published",
            ", ".join(certs) or "-",
            ", ".join(p.regions) or "-",
            f"{p.prices.egress_per_gb:g} {p.prices.currency}",
        )
    console().print(table)


def _show(name: Annotated[str, typer.Argument(help="Profile name, e.g. scaleway.")]) -> None:
    """Show everything a provider profile says."""
    from rich.table import Table

    from passerelle.cli.render import console, human_size
    from passerelle.providers import profile_named

    p = profile_named(name)
    c = console()
    c.print(f"[bold]{p.display_name}[/] [{p.name}]  ({p.origin})")
    c.print(f"  kind              {p.kind}")
    c.print(
        f"  legal home        {p.legal_home} ({'EU' if p.legal_home_in_eu else 'outside the EU'})"
    )
    c.print(f"  non-EU law        {', '.join(p.non_eu_law_exposure) or 'none published'}")
    c.print(f"  certifications    {', '.join(p.certifications) or 'none published'}")
    c.print(f"  SecNumCloud       {'qualified' if p.secnumcloud else 'not qualified'}")
    lim = p.limits
    c.print(
        f"  multipart         {lim.max_parts} parts of {human_size(lim.min_part_size)}"
        f"-{human_size(lim.max_part_size)}; objects up to {human_size(lim.max_object_size)}"
    )
    pr = p.prices
    c.print(
        f"  egress            {pr.egress_per_gb:g} {pr.currency}/GB "
        f"(first {pr.egress_free_gb_per_month:g} GB/month free)"
    )
    c.print(
        f"  requests          write {pr.write_per_1000:g}, read {pr.read_per_1000:g} "
        f"{pr.currency} per 1000"
    )
    if p.requests_per_second:
        c.print(f"  request rate      about {p.requests_per_second}/s; {p.throttling}")
    if p.notes:
        c.print(f"  notes             {p.notes}")
    table = Table("region", "location", "country", "EEA", "certifications")
    for r in p.regions.values():
        table.add_row(
            r.name,
            r.location,
            r.country,
            "yes" if r.eea else "no",
            ", ".join(r.certifications) or "-",
        )
    c.print(table)


def register(app: typer.Typer) -> None:
    providers = typer.Typer(
        help="Provider profiles: jurisdiction, certifications, limits, prices.",
        no_args_is_help=True,
    )
    providers.command("list")(_list)
    providers.command("show")(_show)
    app.add_typer(providers, name="providers")
