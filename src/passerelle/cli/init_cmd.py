"""``passerelle init``: create a hub (config, keys, database, first admin token)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from passerelle.hub import Hub

__all__ = ["register"]


def _init(
    hub: Annotated[
        Path | None,
        typer.Option("--hub", help="Folder to create the hub in (default ./passerelle-hub)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="A TOML file with a [hub] section (flags win over it)."),
    ] = None,
    admin: Annotated[str, typer.Option(help="Name of the first admin user.")] = "admin",
    name: Annotated[str | None, typer.Option(help="Hub name (default: the folder's name).")] = None,
    database: Annotated[
        str | None,
        typer.Option(
            help="SQLAlchemy URL, e.g. postgresql+psycopg://hub@db:5432/hub "
            "(default: SQLite in the folder)."
        ),
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="Store URL for datasets (default file://data).")
    ] = None,
    checkpoints: Annotated[
        str | None,
        typer.Option(
            help="Store URL for signed audit checkpoints (default: inside the data store)."
        ),
    ] = None,
    keys: Annotated[
        str | None,
        typer.Option(
            help="Key file name in the folder, 'env' for PASSERELLE_KEY_* variables, or "
            "'wrapped:FILE' (the secrets wrapped by the custody's KEK)."
        ),
    ] = None,
    custody: Annotated[
        str | None,
        typer.Option(help="Who holds the key-encryption keys: 'file' (default) or 'pkcs11'."),
    ] = None,
    kek_file: Annotated[
        str | None, typer.Option(help="The KEK file in the folder (file custody; keks.json).")
    ] = None,
    pkcs11_module: Annotated[
        str | None,
        typer.Option(help="The HSM's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so."),
    ] = None,
    pkcs11_token: Annotated[str | None, typer.Option(help="The HSM token's label.")] = None,
    pkcs11_pin_env: Annotated[
        str | None,
        typer.Option(help="The variable holding the token's user PIN (PASSERELLE_HSM_PIN)."),
    ] = None,
    witness: Annotated[
        str | None,
        typer.Option(
            help="Write-once copies of the audit checkpoints: s3://REMOTE@BUCKET/PREFIX "
            "(created with S3 Object Lock, compliance mode) or file:///folder outside the hub."
        ),
    ] = None,
    witness_retain_days: Annotated[
        int | None,
        typer.Option(min=1, help="Days each witnessed checkpoint stays locked (default 3650)."),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            help="Placement policy: 'national' (health data HDS+EEA, elsewhere only as "
            "ciphertext; aggregates EEA) or 'none' (default: the --config file's, else none)."
        ),
    ] = None,
) -> None:
    """Create a hub: hub.toml, fresh keys, the database schema and the first admin's token."""
    from passerelle.cli.render import console
    from passerelle.hub import init_hub
    from passerelle.hub.hub import CONFIG_NAME, HubConfig, hub_dir_from_env, read_settings
    from passerelle.hub.witness import prepare_witness

    _refuse_undecodable(  # before anything is read or written
        {
            "--hub": hub,
            "--config": config,
            "--admin": admin,
            "--name": name,
            "--database": database,
            "--store": store,
            "--checkpoints": checkpoints,
            "--keys": keys,
            "--custody": custody,
            "--kek-file": kek_file,
            "--pkcs11-module": pkcs11_module,
            "--pkcs11-token": pkcs11_token,
            "--pkcs11-pin-env": pkcs11_pin_env,
            "--witness": witness,
            "--policy": policy,
        }
    )
    directory = hub_dir_from_env(hub)
    settings = read_settings(config) if config else {}
    for key, value in (
        ("witness", witness),
        ("witness_retain_days", witness_retain_days),
        ("custody", custody),
        ("kek_file", kek_file),
        ("pkcs11_module", pkcs11_module),
        ("pkcs11_token", pkcs11_token),
        ("pkcs11_pin_env", pkcs11_pin_env),
    ):
        if value is not None:
            settings[key] = value
    if policy is not None:
        from passerelle.sovereignty.policy import named_policy

        settings["policy"] = named_policy(policy)
    from passerelle.hub.config_file import check_text_settings

    named = {"name": name, "database": database, "store": store, "checkpoints": checkpoints}
    given = {k: v for k, v in {**named, "keys": keys}.items() if v is not None}
    check_text_settings({**settings, **given}, "passerelle init")  # before the witness is made
    witnessed = None
    if settings.get("witness") and not (directory / CONFIG_NAME).exists():
        planned = HubConfig(  # the witness is made ready first: a failure leaves no hub behind
            directory=directory.resolve(),
            name=name or settings.get("name") or directory.resolve().name,
            witness=settings["witness"],
            witness_retain_days=settings.get("witness_retain_days", 3650),
        )
        witnessed = prepare_witness(planned)
    created, issued = init_hub(
        directory,
        settings=settings,
        admin=admin,
        name=name,
        database=database,
        store=store,
        checkpoints=checkpoints,
        keys=keys,
    )
    c = console()
    c.print(f"hub [bold]{created.config.name}[/] created in {directory.resolve()}")
    c.print(f"  database     {created.db.dialect} (schema {created.db.revision()})")
    c.print(f"  datasets     {created.config.resolve_url(created.config.store)}")
    c.print(f"  checkpoints  {created.store('checkpoints').url}")
    c.print(f"  witness      {witnessed.description if witnessed else 'none (set --witness)'}")
    chosen = created.config.policy
    c.print(f"  policy       {chosen.name if not chosen.empty else 'none (set --policy)'}")
    if created.config.encrypt:
        c.print(f"  encrypted    {', '.join(created.config.encrypt)}")
    c.print(f"  custody      {_custody_line(created)}")
    c.print(
        f"  keys         {created.config.keys} "
        "(back it up: without it the audit log cannot be verified)"
    )
    c.print(
        f"admin [bold]{admin}[/] token (shown once, expires {issued.token.expires_at:%Y-%m-%d}):"
    )
    typer.echo(issued.secret)
    created.close()


def _refuse_undecodable(options: dict[str, str | Path | None]) -> None:
    """One sentence for the first option holding bytes that are not UTF-8 (a non-UTF-8
    terminal or script): hub.toml is UTF-8 text, and nothing is written before this."""
    from passerelle.errors import UsageError
    from passerelle.hub.config_file import undecodable_byte

    for option, value in options.items():
        byte = None if value is None else undecodable_byte(str(value))
        if byte is not None:
            raise UsageError(
                f"{option} is not valid UTF-8 (byte 0x{byte:02x}); give it as UTF-8 text"
            )


def _custody_line(created: Hub) -> str:
    """Where the KEKs are, and the first one when the hub made one."""
    config = created.config
    if config.custody == "pkcs11":
        where = f"pkcs11 token {config.pkcs11_token!r} ({config.pkcs11_module})"
    else:
        where = f"file {config.kek_file}"
    if not (config.encrypt or config.keys.startswith("wrapped:")):
        return f"{where}, no key yet (`passerelle keys create` makes one)"
    return f"{where}, current key {created.custody().current_key_id()}"


def register(app: typer.Typer) -> None:
    app.command("init")(_init)
