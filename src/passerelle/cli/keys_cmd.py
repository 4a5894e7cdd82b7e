"""``passerelle keys list|status|create|rotate|destroy|wrap-secrets``: the hub's KEKs."""

from __future__ import annotations

from typing import Annotated

import typer

from passerelle.cli.hub_context import HubOpt, JsonOpt, TokenOpt, emit, open_as

__all__ = ["register"]

keys = typer.Typer(
    help="Key-encryption keys (KEKs) in the hub's custody: a key file or a PKCS#11 HSM.",
    no_args_is_help=True,
)
_COLUMNS = ["key_id", "custody", "state", "created", "destroyed"]


@keys.command("list")
def _list(hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """Every KEK the custody has held, destroyed ones included (admins and auditors)."""
    from passerelle.hub.key_admin import list_keys

    h, me = open_as(hub, token)
    emit(list_keys(h, me), as_json, _COLUMNS)


@keys.command("status")
def _status(hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """The KEKs with how many objects of the hub's store each protects (walks the store)."""
    from passerelle.cli.hub_context import to_jsonable
    from passerelle.cli.render import console
    from passerelle.hub.key_admin import key_status

    h, me = open_as(hub, token)
    status = key_status(h, me)
    if as_json:
        emit(status, True)
        return
    emit(to_jsonable(status.keys), False, [*_COLUMNS, "objects"])
    console().print(
        f"custody {status.custody}, current {status.current or 'none'}, "
        f"{status.plaintext_objects} object(s) stored as plaintext, "
        f"last rotation {status.last_rotation or 'never'}",
        soft_wrap=True,
    )
    for name, kek in sorted(status.secrets_under.items()):
        console().print(f"hub secret {name} wrapped under {kek}")
    for kek, count in sorted(status.unknown_keys.items()):
        console().print(
            f"{count} object(s) name {kek!r}, a key this custody does not hold: unreadable here",
            soft_wrap=True,
            highlight=False,
        )


@keys.command("create")
def _create(hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """Make a new current KEK; existing objects stay under theirs until `keys rotate`."""
    from passerelle.hub.key_admin import create_key

    h, me = open_as(hub, token)
    emit(create_key(h, me), as_json)


@keys.command("rotate")
def _rotate(
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Objects re-wrapped at the same time.")
    ] = 8,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A new current KEK, then every data key re-wrapped under it (no re-encryption).

    An interrupted rotation is continued by running it again: objects already under
    the new KEK are skipped."""
    from passerelle.cli.render import console, error_console
    from passerelle.hub.key_admin import rotate_keys

    h, me = open_as(hub, token)
    report = rotate_keys(h, me, workers=workers)
    if as_json:
        emit(report, True)
    else:
        verb = "continued" if report.resumed else "done"
        console().print(
            f"rotation to {report.key_id} {verb}: {report.rewrapped} re-wrapped, "
            f"{report.already} already under it, {report.plaintext} plaintext, "
            f"{report.erased} crypto-erased left alone, {len(report.failed)} failed; "
            f"{report.secrets_rewrapped} hub secret(s) re-wrapped",
            soft_wrap=True,
        )
    if report.failed:
        for key, reason in report.failed[:20]:
            error_console().print(f"failed: {key}: {reason}", soft_wrap=True, highlight=False)
        from passerelle.errors import TamperedDataError

        raise TamperedDataError(
            f"{len(report.failed)} object(s) could not be re-wrapped and stay under their old "
            "key; fix them (see above) and run `passerelle keys rotate` again"
        )


@keys.command("destroy")
def _destroy(
    key_id: Annotated[str, typer.Argument(help="The KEK to destroy (see `passerelle keys list`).")],
    crypto_erase: Annotated[
        bool,
        typer.Option(
            "--crypto-erase",
            help="Destroy it even though objects still name it: they become unreadable, "
            "for good (the way to erase data left at a provider).",
        ),
    ] = False,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Destroy a retired KEK; refused while objects still need it unless --crypto-erase."""
    from passerelle.cli.render import console
    from passerelle.hub.key_admin import destroy_key

    h, me = open_as(hub, token)
    report = destroy_key(h, me, key_id, crypto_erase=crypto_erase)
    if as_json:
        emit(report, True)
    elif report.crypto_erased:
        console().print(
            f"{report.key_id} destroyed: the {report.crypto_erased} object(s) under it are now "
            "unreadable (crypto-erased), wherever a copy of them is kept",
            soft_wrap=True,
        )
    else:
        console().print(f"{report.key_id} destroyed; no object of the hub's store needed it")


@keys.command("wrap-secrets")
def _wrap_secrets(
    file: Annotated[
        str, typer.Option("--file", help="The wrapped key file to write in the hub folder.")
    ] = "keys.wrapped.json",
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Wrap the hub's secrets (audit, pseudonym, project) under the current KEK and remove
    the plaintext key file; hub.toml then says keys = "wrapped:FILE"."""
    from passerelle.cli.render import console
    from passerelle.hub.key_setup import wrap_secrets

    h, me = open_as(hub, token)
    report = wrap_secrets(h, me, file=file)
    if as_json:
        emit(report, True)
        return
    console().print(
        f"{', '.join(report.secrets)} wrapped under {report.key_id} in {report.wrapped_file}; "
        f"{report.removed} overwritten and removed (delete its backups too)",
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(keys, name="keys")
