"""``passerelle upgrade``: bring a hub created by an older passerelle to this schema."""

from __future__ import annotations

import typer

from passerelle.cli.hub_context import HubOpt, JsonOpt, emit

__all__ = ["register"]


def _upgrade(hub: HubOpt = None, as_json: JsonOpt = False) -> None:
    """Apply the database revisions this passerelle adds (back the database up first).

    Like `init`, it needs the hub folder and its database, not a token: the
    tokens table itself may be what changes. The upgrade is audited.
    """
    from passerelle.cli.render import console
    from passerelle.hub import Hub
    from passerelle.hub.schema_revision import upgrade_hub

    opened = Hub.open(hub)
    try:
        view = upgrade_hub(opened)
    finally:
        opened.close()
    if as_json:
        emit(view, True)
    elif not view.applied:
        console().print(f"the hub's schema is already at revision {view.after}; nothing to do")
    else:
        console().print(
            f"hub schema upgraded from {view.before} to {view.after} "
            f"(applied {', '.join(view.applied)})"
        )


def register(app: typer.Typer) -> None:
    app.command("upgrade")(_upgrade)
