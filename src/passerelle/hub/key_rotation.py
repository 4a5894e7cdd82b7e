"""What rotation and crypto-erase read: the store walk, the re-wrap, and rotation state.

``walk_objects`` lists the hub's raw store (with details where the backend lists
metadata, else one ``head`` per object) and yields each object's KEK from its
envelope metadata. ``rewrap_store`` re-wraps, a window of objects at a time on a
few threads, every data key whose KEK is not the target: an update of the
object's metadata through ``EncryptingStore.rewrap``, conditional on the etag it
was read with; the ciphertext is not rewritten. Where a rotation stands is read
back from the audit log (``keys.rotate`` events: ``start``, then ``finish`` or
``interrupted``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from passerelle.errors import (
    KeyUnavailableError,
    ObjectNotFoundError,
    PasserelleError,
    UnsupportedOperationError,
)
from passerelle.keys.custody import KekState

if TYPE_CHECKING:
    from passerelle.hub.hub import Hub
    from passerelle.keys.custody import KeyCustody
    from passerelle.storage import Store

__all__ = [
    "current_key",
    "key_references",
    "last_rotation",
    "raw_store",
    "rewrap_store",
    "unfinished_rotation",
    "walk_objects",
]


def raw_store(hub: Hub) -> Store:
    """The hub's store as stored (envelopes stay ciphertext), live-routed: what rotation walks.

    ``hub.store()`` decrypts per classification; rotation and crypto-erase read and update
    the envelopes' metadata below it."""
    from passerelle.live.binding import live_store

    return live_store(hub)


def walk_objects(store: Store) -> Iterator[tuple[str, str | None]]:
    """Each object's key and the KEK its metadata names (``None``: stored as plaintext)."""
    from passerelle.storage.encrypting import KEK_KEY

    details = store.capabilities.list_details
    for info in store.list("", details=details):
        metadata = info.metadata
        if metadata is None:
            try:
                metadata = store.head(info.key).metadata or {}
            except ObjectNotFoundError:  # deleted since the listing
                continue
        kek = {k.lower(): v for k, v in metadata.items()}.get(KEK_KEY)
        yield info.key, kek or None


def key_references(store: Store) -> Counter[str | None]:
    """How many objects name each KEK (``None``: objects stored as plaintext)."""
    return Counter(kek for _, kek in walk_objects(store))


def rewrap_store(
    store: Store, custody: KeyCustody, key_id: str, *, workers: int = 8
) -> Iterator[tuple[str, str, str]]:
    """``(object, outcome, reason)`` for every object of ``store``, its data key moved to
    ``key_id``. Outcomes: ``rewrapped``, ``already``, ``plaintext``, ``erased`` (under a
    destroyed KEK: unreadable, left alone) and ``failed`` (with the one-sentence reason).

    Each update is conditional on the etag its wrapped key was read with, so a writer
    replacing an object meanwhile never loses its data key (the new version is read and
    re-wrapped in turn). A store that cannot update conditionally (writes mirrored to two
    stores during a live move) is refused before any object is touched."""
    from concurrent.futures import Future, ThreadPoolExecutor

    from passerelle.storage.encrypting import EncryptingStore

    if not store.capabilities.conditional_metadata:
        raise UnsupportedOperationError(
            f"The store {store.url} cannot update an object's metadata only while it is "
            "unchanged (during a live move writes go to two stores), so re-wrapping could "
            "lose a concurrent writer's data key; run the rotation again once the move "
            "has finished."
        )
    encrypting = EncryptingStore(store, custody, identity_prefix="")
    destroyed = {k.key_id for k in custody.keys() if k.state is KekState.DESTROYED}  # noqa: SIM118 (a custody's keys)

    def one(key: str, kek: str | None) -> tuple[str, str, str]:
        if kek is None:
            return key, "plaintext", ""
        if kek == key_id:
            return key, "already", ""
        if kek in destroyed:
            return key, "erased", ""
        try:
            moved = encrypting.rewrap(key, key_id)
        except ObjectNotFoundError:
            return key, "plaintext", ""  # deleted since the listing: nothing left to protect
        except PasserelleError as exc:
            return key, "failed", str(exc)
        return key, "rewrapped" if moved else "already", ""

    threads = max(1, workers)
    with ThreadPoolExecutor(threads, thread_name_prefix="rewrap") as pool:
        pending: list[Future[tuple[str, str, str]]] = []
        for key, kek in walk_objects(store):
            pending.append(pool.submit(one, key, kek))
            if len(pending) >= threads * 4:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def current_key(custody: KeyCustody) -> str | None:
    try:
        return custody.current_key_id()
    except KeyUnavailableError:
        return None


def _last_rotate_event(hub: Hub, *, finished: bool) -> tuple[str, dict[str, Any]] | None:
    from sqlalchemy import select

    from passerelle.hub.tables import AuditEvent

    query = (
        select(AuditEvent.at, AuditEvent.details)
        .where(AuditEvent.action == "keys.rotate", AuditEvent.decision == "allowed")
        .order_by(AuditEvent.seq.desc())
    )
    with hub.db.read() as session:
        for at, details in session.execute(query):
            data = json.loads(details)
            if not finished or data.get("phase") == "finish":
                return str(at), data
    return None


def last_rotation(hub: Hub) -> str | None:
    """When the last rotation finished (its audit event's time), if one ever did."""
    found = _last_rotate_event(hub, finished=True)
    return found[0] if found else None


def unfinished_rotation(hub: Hub, custody: KeyCustody) -> str | None:
    """The KEK of the last rotation if it did not finish, or finished with objects it could
    not re-wrap, and that KEK is still current."""
    found = _last_rotate_event(hub, finished=False)
    if found is None or (found[1].get("phase") == "finish" and not found[1].get("failed")):
        return None
    key = found[1].get("key")
    return key if isinstance(key, str) and key == current_key(custody) else None
