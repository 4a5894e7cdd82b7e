"""What the checkpoint signer knows of the stored and witnessed checkpoints, without
listing all of them each time.

Signing needs the newest stored checkpoint, proof that none before it is missing, and
the witness's newest. Listing every checkpoint for that grows with the log: a hub read
all day long signs a checkpoint every ``checkpoint_every`` events, thousands a day, and
each signing listed them all (the store's and the witness's). Now each hub object lists
everything on its first signing and again once ``FULL_LISTING_EVERY`` has passed; in
between it lists only the keys after the newest number it has seen with no gap below
(``Store.list(start_after=)``, S3's StartAfter; the witness likewise). A checkpoint
deleted below that number in between is found at the next full listing, and by
``passerelle audit verify``, which always reads them all.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from passerelle.hub.hub import Hub
    from passerelle.hub.witness import Witness

__all__ = ["FULL_LISTING_EVERY", "StoredView", "checkpoint_key", "note_signed", "stored_view"]

FULL_LISTING_EVERY = 600.0
"""Seconds between two full listings of the checkpoints by one hub object."""


def checkpoint_prefix(hub: Hub) -> str:
    return f"{hub.config.name}/audit/checkpoints/"


def checkpoint_key(hub: Hub, number: int) -> str:
    return f"{checkpoint_prefix(hub)}{number:012d}.json"


@dataclass(frozen=True)
class StoredView:
    """The stored checkpoints as the signer needs them."""

    newest: int  # the highest number stored (0: none)
    missing: int | None  # the first number below it that is not stored (None: no gap)
    witnessed: int  # the witness's newest number (0: none, or no witness)


@dataclass(frozen=True)
class _Known:
    stored: int  # 1..stored were all in the store when last listed
    witnessed: int  # the witness's newest number when last listed (it never loses one)
    listed_at: float  # time.monotonic() of the last full listing


_lock = threading.Lock()


def stored_view(hub: Hub, witness: Witness | None) -> StoredView:
    """The stored and witnessed checkpoints: listed in full now and then, else only the
    numbers after the newest this hub object has seen without a gap."""
    # The witness first: another signer stores a checkpoint before witnessing it, so a
    # number witnessed but not yet seen in the store is tampering, never a race.
    known: _Known | None = hub._checkpoint_known
    if known is None or time.monotonic() - known.listed_at >= FULL_LISTING_EVERY:
        witnessed = witness.numbers() if witness is not None else []
        numbers = stored_numbers(hub)[0]
        view = _view(numbers, 0, witnessed[-1] if witnessed else 0)
        _remember(hub, view, listed_at=time.monotonic())
        return view
    newer = witness.numbers_after(known.witnessed) if witness is not None else []
    later = stored_numbers(hub, after=known.stored)[0]
    view = _view(later, known.stored, newer[-1] if newer else known.witnessed)
    _remember(hub, view, listed_at=known.listed_at)
    return view


def note_signed(hub: Hub, number: int) -> None:
    """Checkpoint ``number`` was stored right after the ones this hub object knows."""
    with _lock:
        known = hub._checkpoint_known
        if known is not None and known.stored == number - 1:
            hub._checkpoint_known = _Known(number, known.witnessed, known.listed_at)


def stored_numbers(hub: Hub, *, after: int = 0) -> tuple[list[int], list[str]]:
    """Numbers of the checkpoint files (after ``after``), and keys in their folder that
    are not one."""
    from passerelle.storage.keys import ascii_number

    numbers, strays = [], []
    start = checkpoint_key(hub, after) if after else ""
    for info in hub.store("checkpoints").list(checkpoint_prefix(hub), start_after=start):
        stem = info.key.rsplit("/", 1)[-1]
        number = ascii_number(stem[:-5]) if stem.endswith(".json") and len(stem) == 17 else None
        if number is not None:
            numbers.append(number)
        else:
            strays.append(info.key)
    return sorted(numbers), strays


def _view(numbers: list[int], below: int, witnessed: int) -> StoredView:
    """``numbers`` listed after ``below`` (1..below known stored): the newest and the
    first gap."""
    missing = next((below + 1 + i for i, n in enumerate(numbers) if n != below + 1 + i), None)
    return StoredView(numbers[-1] if numbers else below, missing, witnessed)


def _remember(hub: Hub, view: StoredView, *, listed_at: float) -> None:
    stored = view.newest if view.missing is None else view.missing - 1
    with _lock:
        known = hub._checkpoint_known
        if known is not None and known.listed_at == listed_at:
            stored = max(stored, known.stored)
        hub._checkpoint_known = _Known(stored, view.witnessed, listed_at)
