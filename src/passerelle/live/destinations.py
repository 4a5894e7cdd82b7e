"""Where a replica or a move may write: ``destinations`` in hub.toml.

A replica's passes overwrite and delete what its store holds (``--adopt`` takes over a
store that already holds objects), and a move copies the whole hub to its destination.
Object stores need a remote that an admin configured with credentials, so an operator
can only name places an admin already chose; a ``file://`` URL names any folder the
server can write. :func:`destination_allowed` (pure) decides:

- ``destinations`` listed: the URL must lie under one of those URL prefixes (local
  paths compared as real paths, symbolic links and ``..`` resolved on both sides);
- unset: any object store, and local folders inside the folder that holds the hub's
  directory (its siblings, as ``passerelle demo`` lays them out); when the hub's
  directory sits at the top of the file system, local folders must be listed.

The hub's own places are refused separately, whatever is listed
(:mod:`passerelle.live.store_overlap`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from passerelle.errors import PermissionDeniedError

if TYPE_CHECKING:
    from passerelle.hub.hub import HubConfig

__all__ = ["destination_allowed", "refuse_undeclared"]


def destination_allowed(listed: tuple[str, ...], beside: str | None, real: str) -> bool:
    """Whether ``real`` (a store URL, local paths already resolved) may be written.

    ``listed``: the ``destinations`` prefixes (resolved the same way); ``beside``: the
    folder holding the hub's directory, used for local folders when nothing is listed
    (None: refused).
    """
    from passerelle.hub.landing import source_allowed

    if listed:
        return source_allowed(listed, real)
    if not real.startswith("file://"):
        return True
    return beside is not None and source_allowed((f"file://{beside}",), real)


def refuse_undeclared(config: HubConfig, url: str, what: str) -> None:
    """Raise ``PermissionDeniedError`` unless ``url`` (resolved) is a place ``config``
    lets a replica or a move write."""
    from passerelle.hub.landing import real_url

    listed = tuple(real_url(config.resolve_url(p), strict=False) for p in config.destinations)
    parent = os.path.dirname(os.path.realpath(config.directory))
    beside = parent if parent != "/" else None
    real = real_url(config.resolve_url(url), strict=False)
    if destination_allowed(listed, beside, real):
        return
    if listed:
        where = "is not under the hub's destinations"
        then = "name a store under one of them, or ask an admin to list it in hub.toml"
    else:
        where = "is a local folder outside the one that holds the hub's directory"
        then = "ask an admin to list it (or a folder above it) in hub.toml's destinations"
    raise PermissionDeniedError(f"{what} {url} {where}; {then}")
