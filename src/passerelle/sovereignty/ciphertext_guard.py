"""Ciphertext-only destinations: which keys must be envelopes, and a guard on the bytes copied.

The placement policy may let a destination hold a classification only as ciphertext. A
check at a move's start samples a few objects per folder (a cheap, early refusal); the
guarantee is given here, per object, where bytes move::

    CiphertextOnly          which keys must be envelopes at one destination (pure data,
                            JSON round-trip, so a journal can carry it between runs)
    check_envelope_head     the decision on an object's first bytes (pure)
    CiphertextOnlySource    a store wrapper around the SOURCE of a copy: a read of a key
                            ``CiphertextOnly`` names checks the first bytes of the same
                            stream the copy consumes (no extra request) before the copy
                            sees any byte, and raises :class:`PlaintextRefusedError`

The error is raised when the reader is opened, before the destination is asked for
anything, so a refused object leaves nothing half-written there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from passerelle.errors import PolicyViolationError
from passerelle.sovereignty.envelope import HEADER_SIZE, is_envelope
from passerelle.sovereignty.policy import CLASSIFICATIONS, DEFAULT_CLASSIFICATION
from passerelle.storage.base import ObjectReader, Store, StoreWrapper
from passerelle.storage.keys import check_key

__all__ = [
    "CiphertextOnly",
    "CiphertextOnlySource",
    "PlaintextRefusedError",
    "check_envelope_head",
    "classify_folder",
    "guard_source",
    "rules_of",
]


class PlaintextRefusedError(PolicyViolationError):
    """An object that is not an envelope was about to reach a ciphertext-only destination."""

    def __init__(self, key: str, rule: str, destination: str, why: str) -> None:
        self.key, self.rule, self.destination = key, rule, destination
        super().__init__(
            f"{key} was not copied to {destination}: the policy lets it hold this data only "
            f"as ciphertext ({rule}), but the source object {why}; write it again through the "
            "hub (re-ingest) or remove it, then run the move again."
        )


def check_envelope_head(key: str, head: bytes, rule: str, destination: str) -> None:
    """Refuse (:class:`PlaintextRefusedError`) unless ``head``, the first bytes of ``key``
    (up to ``HEADER_SIZE``, fewer only when the object is shorter), start an envelope."""
    if not head:
        raise PlaintextRefusedError(key, rule, destination, "is empty (an envelope never is)")
    if not is_envelope(head):
        raise PlaintextRefusedError(key, rule, destination, "is not an envelope (plaintext)")
    if len(head) < HEADER_SIZE:
        raise PlaintextRefusedError(
            key, rule, destination, f"has {len(head)} bytes, shorter than an envelope header"
        )


def classify_folder(kind: str, name: str, entries: Iterable[tuple[str, str, Iterable[str]]]) -> str:
    """The classification of a dataset folder (``kind`` datasets, quarantine or extract, with
    its ``name``) from catalog ``entries`` (name, classification, locations): the most
    sensitive entry claiming it, else the default classification (pure)."""
    if kind == "extract":
        names, folder = {name}, ""
    elif kind == "quarantine":
        names, folder = {f"{name}_quarantine"}, f"quarantine/{name}/"
    else:
        names, folder = {name}, f"datasets/{name}/"
    found: list[str] = []
    for d_name, classification, locations in entries:
        held = [str(loc).removeprefix("hub:") for loc in locations or ()]
        if d_name in names or (folder and any(h.startswith(folder) for h in held)):
            found.append(classification)
    known = [c for c in found if c in CLASSIFICATIONS]
    return min(known, key=CLASSIFICATIONS.index) if known else DEFAULT_CLASSIFICATION


@dataclass(frozen=True)
class CiphertextOnly:
    """The keys of a hub's store that ``destination`` may hold only as envelopes: those whose
    classification (from the key's folder and the catalog ``datasets``, as the hub's
    encrypting store decides it) is in ``classifications`` (classification -> rule)."""

    destination: str
    hub_name: str
    classifications: Mapping[str, str]
    datasets: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    _cache: dict[tuple[str, str], str] = field(
        default_factory=dict, compare=False, repr=False, hash=False
    )

    @property
    def empty(self) -> bool:
        return not self.classifications

    def rule_for(self, key: str) -> str | None:
        """The rule that makes ``key`` ciphertext-only at the destination, or None (pure)."""
        if self.empty:
            return None
        from passerelle.hub.classified_store import folder_of_object

        folder = folder_of_object(key, self.hub_name)
        if folder.kind == "fixed":
            classification = folder.classification
        else:
            entry = (folder.kind, folder.name)
            if entry not in self._cache:
                self._cache[entry] = classify_folder(folder.kind, folder.name, self.datasets)
            classification = self._cache[entry]
        return self.classifications.get(classification)

    def to_json(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "hub_name": self.hub_name,
            "classifications": dict(self.classifications),
            "datasets": [[n, c, list(locs)] for n, c, locs in self.datasets],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CiphertextOnly:
        return cls(
            str(data["destination"]),
            str(data["hub_name"]),
            {str(k): str(v) for k, v in dict(data["classifications"]).items()},
            tuple((str(n), str(c), tuple(str(x) for x in locs)) for n, c, locs in data["datasets"]),
        )


def _guarded(reader: ObjectReader, key: str, rule: str, destination: str) -> ObjectReader:
    """``reader`` with its first bytes read now and checked; the copy gets them unchanged."""
    chunks = iter(reader)
    head: list[bytes] = []
    have = 0
    for chunk in chunks:  # usually one chunk: the copy reads MiBs at a time
        if chunk:
            head.append(chunk)
            have += len(chunk)
        if have >= HEADER_SIZE:
            break
    try:
        check_envelope_head(key, b"".join(head)[:HEADER_SIZE], rule, destination)
    except PlaintextRefusedError:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # release the source stream
        raise
    return ObjectReader(reader.info, chain(head, chunks), reader.expected, label=key)


class CiphertextOnlySource(StoreWrapper):
    """The source of a copy to ``rules.destination``: every read of a key ``rules`` names is
    refused (:class:`PlaintextRefusedError`, when the reader is opened) unless it is an
    envelope; a ranged read not from byte 0 of such a key is refused (it cannot be checked)."""

    def __init__(self, inner: Store, rules: CiphertextOnly) -> None:
        super().__init__(inner)
        self.rules = rules

    def get(
        self,
        key: str,
        *,
        start: int | None = None,
        end: int | None = None,
        if_match: str | None = None,
        chunk_size: int = 8 * 1024 * 1024,
    ) -> ObjectReader:
        rule = self.rules.rule_for(check_key(key))
        if rule is not None and start:
            raise PlaintextRefusedError(
                key, rule, self.rules.destination, "was read from an offset, not checked"
            )
        reader = super().get(key, start=start, end=end, if_match=if_match, chunk_size=chunk_size)
        if rule is None:
            return reader
        return _guarded(reader, key, rule, self.rules.destination)


def guard_source(store: Store, rules: CiphertextOnly | None) -> Store:
    """``store`` guarded by ``rules`` (unchanged when there are none)."""
    return store if rules is None or rules.empty else CiphertextOnlySource(store, rules)


def rules_of(data: Mapping[str, Any] | None) -> CiphertextOnly | None:
    """The rules a journal carries (``None`` when it carries none)."""
    return CiphertextOnly.from_json(data) if data else None
