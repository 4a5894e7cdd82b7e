"""``ls``, ``stat`` and ``stores check|create``: look at any store from the shell."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

__all__ = ["register"]


def _ls(
    url: Annotated[str, typer.Argument(help="Store URL: az://, s3://, file:// or memory://.")],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="List every object below.")
    ] = False,
    long: Annotated[bool, typer.Option("--long", "-l", help="Show size, date and ETag.")] = False,
) -> None:
    """List objects (and sub-prefixes) at a store URL."""
    from passerelle.cli.render import human_size, iso
    from passerelle.storage import open_store

    store = open_store(url)
    out = sys.stdout
    count = total = 0

    def line(key: str, size: int, etag: str | None, when: object) -> None:
        if long:
            out.write(f"{size:>14}  {iso(when)}  {etag or '-':<36}  {key}\n")  # type: ignore[arg-type]
        else:
            out.write(f"{key}\n")

    if recursive:
        for info in store.list():
            count += 1
            total += info.size
            line(info.key, info.size, info.etag, info.last_modified)
    else:
        listing = store.list_dir()
        for prefix in listing.prefixes:
            out.write(f"{'PRE':>14}  {'':20}  {'':36}  {prefix}/\n" if long else f"{prefix}/\n")
        for info in listing.objects:
            count += 1
            total += info.size
            line(info.key, info.size, info.etag, info.last_modified)
    if long:
        out.write(f"{count} objects, {human_size(total)} ({total} bytes)\n")
    out.flush()


def _stat(
    url: Annotated[str, typer.Argument(help="URL of one object, e.g. s3://bucket/path/key.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one object's size, ETag, date, content type and user metadata."""
    from passerelle.cli.render import console, human_size, iso
    from passerelle.storage import open_store, split_object_url

    parent, key = split_object_url(url)
    info = open_store(parent).head(key)
    record = {
        "url": url,
        "key": info.key,
        "size": info.size,
        "etag": info.etag,
        "last_modified": iso(info.last_modified),
        "version": info.version,
        "content_type": info.content_type,
        "metadata": dict(info.metadata or {}),
    }
    if as_json:
        sys.stdout.write(json.dumps(record, indent=2) + "\n")
        return
    c = console()
    c.print(f"[bold]{url}[/]")
    c.print(f"  size          {info.size} ({human_size(info.size)})")
    c.print(f"  etag          {info.etag or '-'}")
    c.print(f"  last modified {iso(info.last_modified)}")
    c.print(f"  content type  {info.content_type or '-'}")
    for k, v in sorted((info.metadata or {}).items()):
        c.print(f"  meta {k:<8} {v}")


def _check(
    url: Annotated[str, typer.Argument(help="Store URL to probe.")],
) -> None:
    """Check reachability, credentials, capabilities and provider profile of a store."""
    from rich.table import Table

    from passerelle.cli.render import console
    from passerelle.providers import load_profiles
    from passerelle.storage.diagnose import check_store

    result = check_store(url)
    c = console()
    table = Table(show_header=False, box=None, pad_edge=False)
    mark = {True: "[green]yes[/]", False: "[red]no[/]"}
    table.add_row("store", result.url)
    if result.endpoint:
        table.add_row("endpoint", result.endpoint)
    table.add_row("reachable", mark[result.reachable])
    table.add_row("credentials accepted", mark[result.authenticated])
    table.add_row("bucket/container exists", mark[result.container_exists])
    table.add_row("first listing", f"{result.listed} object(s) in {result.latency_ms:.0f} ms")
    caps = ", ".join(k for k, v in result.capabilities.as_dict().items() if v)
    table.add_row("capabilities", caps)
    limits = result.limits
    table.add_row(
        "multipart limits",
        f"{limits.max_parts} parts of {limits.min_part_size}-{limits.max_part_size} bytes, "
        f"object <= {limits.max_object_size} bytes",
    )
    if result.provider:
        profile = load_profiles().get(result.provider)
        if profile is not None:
            region = profile.region(result.region)
            where = f"{region.location} ({region.country})" if region else "region unknown"
            table.add_row("provider", f"{profile.display_name} [{profile.name}]")
            table.add_row("region", f"{result.region or '-'}: {where}")
            table.add_row(
                "legal home",
                profile.legal_home
                + (
                    f"; exposed to {', '.join(profile.non_eu_law_exposure)}"
                    if profile.non_eu_law_exposure
                    else "; no non-EU law exposure published"
                ),
            )
            certs = region.certifications if region else profile.certifications
            table.add_row("certifications", ", ".join(certs) or "none published")
    else:
        table.add_row("provider", 'unknown: set provider = "..." in the remote\'s config')
    c.print(table)
    if result.problem is not None:
        raise result.problem


def _create(
    url: Annotated[str, typer.Argument(help="Store URL whose bucket/container/folder to create.")],
) -> None:
    """Create the bucket, container or folder of a store URL (no error if it exists)."""
    from passerelle.cli.render import console
    from passerelle.storage import open_store

    store = open_store(url)
    store.create_container()
    console().print(f"ready: {store.url}")


def register(app: typer.Typer) -> None:
    app.command("ls")(_ls)
    app.command("stat")(_stat)
    stores = typer.Typer(help="Check and prepare stores.", no_args_is_help=True)
    stores.command("check")(_check)
    stores.command("create")(_create)
    app.add_typer(stores, name="stores")
