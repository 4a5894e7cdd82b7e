"""``passerelle migrate certificate [verify]``: sign a verified migration, check it offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from passerelle.cli.hub_context import HubOpt, TokenOpt

__all__ = ["register"]

certificate = typer.Typer(
    help="Signed migration certificates: issue one after a clean verify, check one offline.",
    invoke_without_command=True,
)


@certificate.callback()
def _issue(
    ctx: typer.Context,
    journal: Annotated[
        Path | None, typer.Option("--journal", "-j", help="The verified migration's journal.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Where to write the certificate JSON.")
    ] = None,
    manifest_output: Annotated[
        Path | None, typer.Option(help="Also write the manifest (key,size,sha256) as CSV.")
    ] = None,
    hub: HubOpt = None,
    token: TokenOpt = None,
) -> None:
    """Sign the manifest of a cleanly verified migration with the hub's key (audited)."""
    if ctx.invoked_subcommand is not None:
        return
    from passerelle.cli.hub_context import open_as
    from passerelle.cli.render import console
    from passerelle.errors import UsageError
    from passerelle.hub.certificates import issue_certificate

    if journal is None or output is None:
        raise UsageError(
            "Give --journal and --output to issue a certificate, or "
            "`passerelle migrate certificate verify CERT` to check one."
        )
    h, me = open_as(hub, token)
    issued = issue_certificate(h, me, journal, output, manifest_output)
    body = issued.certificate.body
    c = console()
    c.print(
        f"certificate {output}: {body['manifest']['objects']} objects, "
        f"{body['manifest']['bytes']} bytes, verify {body['verify']['mode']}, "
        f"{len(body['chunks'])} chunks",
        soft_wrap=True,
    )
    c.print(f"merkle root {issued.certificate.root}", soft_wrap=True)
    c.print(f"signed by {issued.certificate.public_key} (see `passerelle audit head`)")
    if manifest_output:
        c.print(f"manifest {manifest_output}")


@certificate.command("verify")
def _verify(
    cert: Annotated[Path, typer.Argument(help="The certificate JSON.")],
    manifest: Annotated[
        Path | None, typer.Option(help="The manifest CSV to check row by row.")
    ] = None,
    against: Annotated[
        str | None,
        typer.Option(help="A destination store URL: read and hash its objects."),
    ] = None,
    sample: Annotated[
        int | None, typer.Option(help="With --against and --manifest: hash only N random rows.")
    ] = None,
    public_key: Annotated[
        str | None, typer.Option(help="The hub's public key (hex) you trust; pins the signer.")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=256)] = 8,
) -> None:
    """Check a certificate offline (no journal, no hub); exit 1 naming every problem."""
    from passerelle.cli.render import console, error_console
    from passerelle.errors import TerminalError, UsageError
    from passerelle.migration.certificate_verify import verify_certificate

    def read(path: Path, what: str) -> str:
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise UsageError(f"Cannot read the {what} {path} ({reason}); check the path.") from None

    text = read(cert, "certificate")
    store = None
    if against is not None:
        from passerelle.storage import open_store

        store = open_store(against)
    handle = None
    if manifest is not None:
        try:  # streamed later: never read whole (millions of rows)
            handle = manifest.open(encoding="utf-8", newline="")
        except OSError as exc:
            raise UsageError(
                f"Cannot read the manifest {manifest} ({exc.strerror}); check the path."
            ) from None
    try:
        check = verify_certificate(
            text,
            public_key=public_key,
            manifest=handle,
            against=store,
            sample=sample,
            concurrency=concurrency,
        )
    finally:
        if handle:
            handle.close()
    c = console()
    body = check.certificate.body
    signer = _shown(check.certificate.public_key)
    c.print(
        _shown(
            f"certificate of migration {body['migration_id']} ({body['source']['url']} -> "
            f"{body['destination']['url']}): {body['manifest']['objects']} objects, "
            f"root {body['manifest']['root'][:16]}..."
        ),
        soft_wrap=True,
        highlight=False,
    )
    if check.pinned:
        c.print(f"signer: {signer} (pinned with --public-key)", highlight=False)
    else:
        c.print(
            f"signer: {signer}; compare it with the public_key of "
            "`passerelle audit head` (or pin it with --public-key)",
            soft_wrap=True,
            highlight=False,
        )
    for sentence in check.problems:
        error_console().print(f"  problem: {_shown(sentence)}", soft_wrap=True, highlight=False)
    if check.problem_count > len(check.problems):
        error_console().print(f"  ... {check.problem_count - len(check.problems)} more problems")
    if not check.ok:
        count = check.problem_count
        raise TerminalError(
            f"The certificate does not hold: {count} problem{'s' if count > 1 else ''}, "
            f"the first: {check.problems[0]}"
        )
    done = []
    if manifest:
        done.append(f"{check.rows_checked} manifest rows match")
    if store is not None:
        done.append(f"{check.objects_checked} objects at {_shown(against or '')} match")
    c.print("[green]certificate verified[/]: signature valid" + "".join(f", {d}" for d in done))


def _shown(text: str) -> str:
    """Text from a certificate, safe to print: no Rich markup, no terminal control codes."""
    from rich.markup import escape

    return escape("".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text))


def register(migrate: typer.Typer) -> None:
    migrate.add_typer(certificate, name="certificate")
