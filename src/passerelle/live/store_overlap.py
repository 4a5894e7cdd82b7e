"""Whether a store URL reaches into one of the hub's own stores, however it is spelled.

A replica's passes delete what the hub's store does not hold, and a move copies the whole
source: a replica (or a move's destination) that is the hub's store written another way
(``file:///hub/data/.``, a plain path, ``FILE://``, a symlink, another remote name for the
same endpoint), a folder inside it, or a folder holding it (the hub's directory, with its
database and keys) would copy the hub into itself or delete the hub. A URL is compared as
a :class:`Location`: the scheme, the endpoint and account it reaches (remotes resolved),
the bucket or container, and the path as segments; two locations overlap when one's path
starts with the other's (:func:`overlaps`, pure).

The hub's own locations (:func:`own_locations`): the stores of its binding (in use,
moving to, retired), its checkpoint store and witness, its landing areas (a steward's
sources), its directory, its SQLite database, key file and KEK file wherever they are,
and its replicas.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from passerelle.errors import ConflictError, PasserelleError

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub
    from passerelle.storage.config import StorageConfig

__all__ = ["Location", "location", "overlaps", "own_locations", "refuse_overlap"]


@dataclass(frozen=True)
class Location:
    """Where a store URL's objects are: ``reach`` names the endpoint and account (empty
    for local files), ``path`` the bucket (or folder) and prefix as segments."""

    scheme: str
    reach: str
    path: tuple[str, ...]


def overlaps(a: Location, b: Location) -> bool:
    """Whether ``a`` and ``b`` share objects: the same place, or one inside the other."""
    if (a.scheme, a.reach) != (b.scheme, b.reach):
        return False
    shorter = min(len(a.path), len(b.path))
    return a.path[:shorter] == b.path[:shorter]


def location(url: str, config: StorageConfig | None = None) -> Location:
    """``url`` as a :class:`Location`: parsed (aliases, ``.`` and ``..``, slashes), a local
    path with its symlinks resolved, a remote by the endpoint and account it names."""
    from passerelle.storage.urls import parse_store_url

    parsed = parse_store_url(url)
    if parsed.scheme == "file":
        real = os.path.realpath(parsed.container)
        return Location("file", "", tuple(s for s in real.split("/") if s))
    segments = (parsed.container, *(s for s in parsed.prefix.split("/") if s))
    if parsed.scheme == "memory":
        return Location("memory", "", segments)
    return Location(parsed.scheme, _reach(parsed.scheme, parsed.remote, config), segments)


def _reach(scheme: str, remote: str | None, config: StorageConfig | None) -> str:
    from passerelle.storage.config import load_config

    try:
        settings = (config or load_config()).remote_for(scheme, remote)
    except PasserelleError:
        return f"remote:{remote}"  # opening it fails the same way; compared by name
    endpoint = (settings.endpoint or "").strip().rstrip("/").lower()
    return f"{endpoint}|{(settings.account or '').lower()}"


def own_locations(hub: Hub, session: Session, *, replicas: bool = True) -> list[tuple[str, str]]:
    """(what it is, URL) of each place the hub keeps its own objects, files and sources
    (``replicas``: its replicas too)."""
    from sqlalchemy import select

    from passerelle.hub.tables import Replica
    from passerelle.live.binding import load_binding

    config = hub.config
    binding = load_binding(hub, session)
    places = [
        ("the hub's store", binding.source_url),
        ("the move's destination", binding.destination_url),
        ("the retired store", binding.retired_url),
        ("the checkpoint store", None if config.checkpoints == "store" else config.checkpoints),
        ("the audit witness", config.witness or None),
        ("the hub's directory", f"file://{config.directory}"),
        ("the hub's database", _sqlite_file(hub.db.url)),
        ("the hub's key file", _key_file(config.directory, config.keys)),
        ("the hub's KEK file", _file(config.directory, config.kek_file, config.custody)),
        *(("a landing area", source) for source in config.ingest_sources),
    ]
    own = [(what, config.resolve_url(url)) for what, url in places if url]
    if replicas:
        rows = session.execute(select(Replica.name, Replica.url).order_by(Replica.name))
        own += [(f"the replica {name!r}", url) for name, url in rows]
    return own


def _key_file(directory: Path, keys: str) -> str | None:
    if keys == "env":
        return None
    return "file://" + str((directory / keys.removeprefix("wrapped:").strip()).resolve())


def _file(directory: Path, name: str, custody: str) -> str | None:
    return "file://" + str((directory / name).resolve()) if custody == "file" else None


def _sqlite_file(database_url: str) -> str | None:
    prefix = "sqlite:///"
    if not database_url.startswith(prefix) or database_url == prefix + ":memory:":
        return None
    return "file://" + database_url[len(prefix) :]


def refuse_overlap(
    hub: Hub,
    session: Session,
    url: str,
    what: str,
    *,
    replicas: bool = True,
    may_be: tuple[str, ...] = (),
    then: str = "name another store, neither inside nor around one of the hub's own",
) -> None:
    """Raise ``ConflictError`` when ``url`` overlaps one of the hub's own places (its
    replicas too when ``replicas``); a place whose URL is in ``may_be`` may be ``url``
    itself (a move to a replica), never around it nor inside it."""
    from passerelle.storage.config import load_config

    config = load_config()
    mine = location(url, config)
    for place, own_url in own_locations(hub, session, replicas=replicas):
        try:
            theirs = location(own_url, config)
        except PasserelleError:
            continue  # not a store URL: nothing of the hub's is opened there
        if not overlaps(mine, theirs) or (own_url in may_be and mine == theirs):
            continue
        if mine == theirs:
            relation = "is"
        else:
            relation = "is inside" if len(mine.path) > len(theirs.path) else "holds"
        raise ConflictError(f"{what} {url} {relation} {place} ({own_url}): {then}")
