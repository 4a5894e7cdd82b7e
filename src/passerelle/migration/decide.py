"""Pure decisions of the migration engine: what to do with each key, where it may go.

Nothing here touches a store or the journal; the planner feeds rows in and
writes the answers back.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "DEFAULT_TIER_MAP",
    "Action",
    "KeyFilter",
    "Prior",
    "Side",
    "decide",
    "decide_source_only",
    "map_storage_class",
    "same_etag",
]


class Action(StrEnum):
    """What the plan says to do with one key."""

    COPY = "copy"  # at the source only: copy it
    CHANGED = "changed"  # at both, but the destination is not a proven copy of the source
    IDENTICAL = "identical"  # proven copy already at the destination
    DEST_ONLY = "dest_only"  # at the destination only
    BLOCKED = "blocked"  # cannot be copied as it is (e.g. archive tier)


@dataclass(frozen=True, slots=True)
class Side:
    """One side's listing of a key."""

    size: int
    etag: str | None
    storage_class: str | None = None


@dataclass(frozen=True, slots=True)
class Prior:
    """What the journal proved about a key in an earlier pass."""

    source_etag: str | None
    source_size: int
    dest_etag: str | None
    sha256: str | None


ARCHIVE_CLASSES = frozenset({"archive", "glacier", "deep_archive"})


def decide(source: Side | None, dest: Side | None, prior: Prior | None) -> tuple[Action, str]:
    """The action for one key, with a short reason.

    A key counts as identical only when the journal proved an earlier copy of the
    same source version (ETag and size) and the destination still holds exactly
    that copy (same ETag).  Equal sizes alone never make a match.
    """
    if source is None:
        if dest is None:
            raise ValueError("a key must exist on at least one side")
        return Action.DEST_ONLY, "only at the destination"
    if dest is None or (source.storage_class and source.storage_class.lower() in ARCHIVE_CLASSES):
        return decide_source_only(source.storage_class)
    if (
        prior is not None
        and prior.sha256
        and prior.source_etag == source.etag
        and prior.source_size == source.size
        and prior.dest_etag is not None
        and same_etag(prior.dest_etag, dest.etag)
        and dest.size == source.size
    ):
        return Action.IDENTICAL, "proven copy of this source version"
    if prior is not None and prior.source_etag != source.etag:
        return Action.CHANGED, "source changed since the last copy"
    if prior is not None and not same_etag(prior.dest_etag, dest.etag):
        return Action.CHANGED, "destination changed since the last copy"
    return Action.CHANGED, "present at both sides without proof they match"


def decide_source_only(storage_class: str | None) -> tuple[Action, str]:
    """The action for a key at the source only: it depends on the source's tier alone."""
    if storage_class and storage_class.lower() in ARCHIVE_CLASSES:
        return Action.BLOCKED, f"source is in the {storage_class} tier: rehydrate it first"
    return Action.COPY, "only at the source"


def same_etag(a: str | None, b: str | None) -> bool:
    """ETags compared as values: Azure lists them bare but returns them quoted on reads."""
    return (a or "").strip('"') == (b or "").strip('"')


DEFAULT_TIER_MAP: Mapping[str, str | None] = {
    "hot": "STANDARD",
    "cool": "STANDARD",
    "cold": "ONEZONE_IA",
    "archive": "GLACIER",
    "standard": "STANDARD",
}


def map_storage_class(
    tier: str | None, mapping: Mapping[str, str | None] = DEFAULT_TIER_MAP
) -> str | None:
    """Destination storage class for a source tier (``None``: the destination's default).

    Azure tiers (``Hot``, ``Cool``...) are never sent to S3 as they are: S3 rejects them.
    """
    if tier is None:
        return None
    return mapping.get(tier.lower())


@dataclass(frozen=True, slots=True)
class KeyFilter:
    """``--include`` / ``--exclude`` globs; ``*`` matches across ``/``."""

    include: Sequence[str] = ()
    exclude: Sequence[str] = ()

    def __call__(self, key: str) -> bool:
        if self.include and not any(fnmatch.fnmatchcase(key, g) for g in self.include):
            return False
        return not any(fnmatch.fnmatchcase(key, g) for g in self.exclude)
