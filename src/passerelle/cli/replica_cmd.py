"""``passerelle hub replica add|list|sync|verify|remove`` and ``passerelle hub exit-drill``:
a continuous copy of the hub's store on a second cloud, and a rehearsed exit to it."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer

from passerelle.cli.hub_context import HubOpt, JsonOpt, TokenOpt, emit, open_as

__all__ = ["register"]

replica = typer.Typer(
    help="Keep a second copy of the hub's store on another cloud, seconds behind.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="The replica's name (see `hub replica list`).")]


@replica.command("add")
def _add(
    url: Annotated[str, typer.Argument(help="The replica's store URL, e.g. s3://ovh@hdh-copy.")],
    name: Annotated[str, typer.Option("--name", help="A name for it, e.g. ovh-gra.")],
    require: Annotated[
        str,
        typer.Option(help="Comma-separated rules the replica must meet: hds,secnumcloud,eea."),
    ] = "",
    adopt: Annotated[
        bool,
        typer.Option(help="Take over a store that already holds objects (overwritten/deleted)."),
    ] = False,
    sync: Annotated[bool, typer.Option(help="Run the first full pass now.")] = True,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a replica (policy-checked like a move's destination) and copy to it."""
    from passerelle.live.replica import add_replica, sync_replica

    h, me = open_as(hub, token)
    rules = tuple(r.strip() for r in require.split(",") if r.strip())
    status: Any = add_replica(h, me, url, name=name, require=rules, adopt=adopt)
    if sync:
        status = {"replica": status, "first_sync": sync_replica(h, me, name)}
    emit(status, as_json)


@replica.command("list")
def _list(hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """Each replica with its lag (objects, bytes, seconds) and its last pass and proof."""
    from passerelle.live.replica import replica_statuses

    h, me = open_as(hub, token)
    rows = replica_statuses(h, me)
    if as_json:
        emit(rows, True)
        return
    emit(
        [
            {
                "name": r.name,
                "url": r.url,
                "lag objects": r.lag_objects,
                "lag bytes": r.lag_bytes,
                "lag s": r.lag_seconds,
                "last pass": r.last_pass_at or "never",
                "last proof": _proof(r.last_verify),
            }
            for r in rows
        ],
        False,
    )


def _proof(details: dict[str, Any] | None) -> str:
    if not details:
        return "never"
    return "clean" if details.get("ok") else f"{details.get('problems')} problems"


@replica.command("sync")
def _sync(
    name: Annotated[str | None, typer.Argument(help="One replica (default: every one).")] = None,
    follow: Annotated[
        bool, typer.Option(help="Keep going: copy each write as it comes, until stopped.")
    ] = False,
    pass_every: Annotated[
        float, typer.Option(help="With --follow: seconds between incremental passes.")
    ] = 3600.0,
    outbox_only: Annotated[
        bool, typer.Option(help="Copy the noted writes only, no listing pass.")
    ] = False,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bring replicas up to date: the writes noted since, then an incremental pass."""
    from passerelle.cli.render import console
    from passerelle.live.replica import follow_replicas, replica_statuses, sync_replica

    h, me = open_as(hub, token)
    if follow:
        if pass_every <= 0:
            raise typer.BadParameter("must be more than 0 seconds", param_hint="--pass-every")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())

        def report(replica_name: str, details: dict[str, Any]) -> None:
            console().print(f"[bold]{replica_name}[/] {_round_text(details)}", soft_wrap=True)

        from passerelle.hub import authenticate

        def who() -> Any:  # the token again each round: revoked or disabled, the follower stops
            return authenticate(h, token)

        names = (name,) if name else ()
        follow_replicas(h, me, stop, names=names, pass_every_s=pass_every, on_round=report, who=who)
        return
    names_now = [name] if name else [r.name for r in replica_statuses(h, me)]
    results = {n: sync_replica(h, me, n, full_pass=not outbox_only) for n in names_now}
    emit(results, as_json)
    if not all(_complete(r) for r in results.values()):
        raise typer.Exit(1)


def _complete(result: dict[str, Any]) -> bool:
    """Whether a sync copied everything it was given (its pass, when one ran, included)."""
    return not result["drain"]["failed"] and result.get("pass", {"complete": True})["complete"]


def _round_text(details: dict[str, Any]) -> str:
    from rich.markup import escape

    if "error" in details:
        return f"[red]error[/]: {escape(str(details['error']))}"
    drain = details.get("drain", {})
    text = f"copied {drain.get('copied', 0)}, deleted {drain.get('deleted', 0)} noted writes"
    if "pass" in details:
        p = details["pass"]
        text += f"; pass: {p['listed']} listed, {p['copied']} copied, {p['deleted']} deleted"
    return text


@replica.command("verify")
def _verify(
    name: NameArg,
    deep: Annotated[bool, typer.Option(help="Re-read and hash every object.")] = True,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Prove the replica holds the hub's store with the migrations' SHA-256 digests."""
    from passerelle.live.replica import verify_replica

    h, me = open_as(hub, token)
    proof = verify_replica(h, me, name, deep=deep)
    emit(proof, as_json)
    if not proof["ok"]:
        raise typer.Exit(1)


@replica.command("remove")
def _remove(name: NameArg, hub: HubOpt = None, token: TokenOpt = None) -> None:
    """Stop keeping the replica current (its copy stays where it is)."""
    from passerelle.cli.render import console
    from passerelle.live.replica import remove_replica

    h, me = open_as(hub, token)
    remove_replica(h, me, name)
    console().print(f"replica {name} removed; its copy was left in place")


def _exit_drill(
    to: Annotated[str, typer.Option("--to", help="The replica to rehearse the exit to.")],
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rehearse leaving this cloud for a replica, timed against the EU Data Act's limits."""
    from rich.markup import escape
    from rich.table import Table

    from passerelle.cli.render import console
    from passerelle.live.exit_drill import exit_drill

    h, me = open_as(hub, token)
    drill = exit_drill(h, me, to)
    if as_json:
        emit(drill, True)
    else:
        out = console()
        out.print(
            f"exit drill to [bold]{escape(drill.replica)}[/] ({escape(drill.replica_url)}): "
            f"{drill.objects} objects, {drill.bytes} bytes"
        )
        out.print(
            f"final sync {drill.final_sync_seconds} s, proof {drill.verify_seconds} s, "
            f"switch about {drill.switch_seconds} s; the hub kept serving on "
            f"{escape(drill.store_url)}"
        )
        table = Table("EU Data Act", "limit", "measured", "ok")
        for limit in drill.limits:
            table.add_row(limit.rule, limit.limit, limit.measured, "yes" if limit.ok else "NO")
        out.print(table)
        for problem in drill.problems:
            out.print(f"[red]not ready[/]: {escape(problem)}", soft_wrap=True)
    if not drill.ready or not all(limit.ok for limit in drill.limits):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    from passerelle.cli.hub_cmd import hub_app

    hub_app.add_typer(replica, name="replica")
    hub_app.command("exit-drill")(_exit_drill)
