"""The signed migration certificate: its format, canonical bytes and how it is built.

After a clean ``migrate verify``, the journal's proven rows ``(key, size, SHA-256)``
of the destination, sorted by key, are the **manifest**; the certificate carries
their Merkle root (:mod:`~passerelle.migration.merkle`), one root per chunk of
``chunk_rows`` rows with its key range, the counts and bytes, both provider
profiles, the time span and the verify mode, signed with Ed25519. The signed
bytes are ``FORMAT + "\\n"`` followed by :func:`canonical_json` of the ``body``;
``docs/sovereignty.md`` (certificate format) is the specification.

This module never touches the hub: the caller passes a ``signer`` (the hub's
signing key, :func:`passerelle.hub.checkpoint_chain.sign_message`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from passerelle.errors import ConflictError, PasserelleError, UsageError
from passerelle.migration.journal import Journal
from passerelle.migration.merkle import MerkleBuilder, leaf_hash
from passerelle.migration.runner import JournalLock

__all__ = [
    "CHUNK_ROWS",
    "FORMAT",
    "MANIFEST_HEADER",
    "Certificate",
    "ManifestTree",
    "build_certificate",
    "canonical_json",
    "manifest_line",
    "signed_message",
]

FORMAT = "passerelle-migration-certificate/1"
CHUNK_ROWS = 1024
MANIFEST_HEADER = ("key", "size", "sha256")
_UNFINISHED = ("pending", "copying", "failed", "changed", "blocked")

Signer = Callable[[bytes], str]
"""Signs the message bytes; returns the Ed25519 signature in hex."""


def canonical_json(value: Any) -> bytes:
    """Members sorted by name, no whitespace, non-ASCII as ``\\uXXXX``; integers only."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def manifest_line(key: str, size: int, sha256: str) -> str:
    """One CSV row: the key always double-quoted (so a comma, quote, CR or LF in it stays
    inside its field), the size and the digest bare."""
    return '"' + key.replace('"', '""') + f'",{size},{sha256}\n'


def signed_message(body: Mapping[str, Any]) -> bytes:
    """The exact bytes the signature covers."""
    return FORMAT.encode("ascii") + b"\n" + canonical_json(body)


@dataclass
class ManifestTree:
    """Manifest rows in, the root and per-chunk roots out (memory: one chunk's hashes)."""

    chunk_rows: int = CHUNK_ROWS
    objects: int = 0
    total_bytes: int = 0
    chunks: list[dict[str, Any]] = field(default_factory=list)
    _all: MerkleBuilder = field(default_factory=MerkleBuilder)
    _chunk: MerkleBuilder = field(default_factory=MerkleBuilder)
    _chunk_bytes: int = 0
    _first: str = ""
    _last: bytes | None = None  # the previous key's UTF-8 bytes

    def add(self, key: str, size: int, sha256: str) -> None:
        """Append one row; ``ValueError`` if it is malformed or not after the last key."""
        raw = key.encode("utf-8")
        if self._last is not None and raw <= self._last:
            raise ValueError(f"key {key!r} is not after the previous key")
        leaf = leaf_hash(key, size, sha256)
        if not self._chunk.count:
            self._first = key
        self._all.add(leaf)
        self._chunk.add(leaf)
        self._chunk_bytes += size
        self.objects += 1
        self.total_bytes += size
        self._last = raw
        if self._chunk.count == self.chunk_rows:
            self._close(key)

    def _close(self, last_key: str) -> None:
        self.chunks.append(
            {
                "index": len(self.chunks),
                "first_row": self.objects - self._chunk.count,
                "rows": self._chunk.count,
                "bytes": self._chunk_bytes,
                "first_key": self._first,
                "last_key": last_key,
                "root": self._chunk.root().hex(),
            }
        )
        self._chunk, self._chunk_bytes = MerkleBuilder(), 0

    def finish(self) -> str:
        """Close the last chunk; the root over every row (hex)."""
        if self._chunk.count:
            assert self._last is not None
            self._close(self._last.decode("utf-8"))
        return self._all.root().hex()


@dataclass(frozen=True)
class Certificate:
    body: dict[str, Any]
    public_key: str
    signature: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "body": self.body,
            "signature": {
                "algorithm": "ed25519",
                "public_key": self.public_key,
                "value": self.signature,
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True, ensure_ascii=True) + "\n"

    @property
    def root(self) -> str:
        return str(self.body["manifest"]["root"])


def _not_clean(journal: Journal) -> tuple[dict[str, Any], str]:
    """The last verify pass and its mode, or :class:`ConflictError` naming what is not clean."""
    passes = journal.passes()
    verifies = [p for p in passes if p["command"].startswith("verify")]
    again = f"run `passerelle migrate verify --journal {journal.path}`"
    if not verifies:
        raise ConflictError(f"The migration was never verified; {again} first.")
    last = verifies[-1]
    if last["outcome"] is None:
        raise ConflictError(f"The last verify (pass {last['id']}) did not finish; {again}.")
    if last["outcome"] != "clean":
        problems = last["stats"].get("problems", "some")
        raise ConflictError(
            f"The last verify (pass {last['id']}) found {problems} problems; fix them with "
            f"`passerelle migrate sync` and {again.removeprefix('run ')} until it is clean."
        )
    later = [p for p in passes if p["id"] > last["id"]]
    if later:
        raise ConflictError(
            f"The journal changed after its last verify ({later[0]['command']} pass "
            f"{later[0]['id']} started {later[0]['started_at']}); {again}."
        )
    counts = journal.counts()
    for status in _UNFINISHED:
        if counts.get(status, {}).get("objects"):
            raise ConflictError(
                f"{counts[status]['objects']} objects are {status}; finish the migration and "
                f"{again.removeprefix('run ')}."
            )
    unproven = journal.iter_objects(
        "status = 'done' AND (verify_result IS NOT 'ok' OR sha256 IS NULL)"
    )
    row = next(unproven, None)
    if row is not None:
        raise ConflictError(
            f"Object {row.key!r} is not proven ({row.verify_result or 'never verified'}); {again}."
        )
    deep = bool(last["stats"].get("deep")) or last["command"] == "verify-deep"
    return last, "deep" if deep else "fast"


def _profile(url: str, provider: str | None, region: str | None) -> dict[str, Any]:
    """Where a store is, whose law reaches it and what it certifies (profile facts)."""
    from passerelle.providers import load_profiles

    facts: dict[str, Any] = {"url": url, "provider": provider or None, "region": region or None}
    profile = None
    with suppress(PasserelleError):
        profile = load_profiles().get(provider) if provider else None
    if profile is None:
        return facts
    place = profile.region(region)
    facts.update(
        display_name=profile.display_name,
        jurisdiction=profile.legal_home,
        legal_home_in_eu=profile.legal_home_in_eu,
        non_eu_law_exposure=list(profile.non_eu_law_exposure),
        secnumcloud=profile.secnumcloud,
        provider_certifications=sorted(profile.certifications),  # the provider's own claims
        region_certifications=sorted(place.certifications) if place else [],  # what proves HDS
        country=place.country if place else None,
        eea=place.eea if place else None,
        location=place.location if place else None,
    )
    return facts


def _location(url: str, recorded: str | None) -> tuple[str | None, str | None]:
    from passerelle.storage.opener import store_location

    provider, region = None, None
    with suppress(PasserelleError):
        provider, region = store_location(url)
    return recorded or provider, region


def _rows(journal: Journal) -> Iterator[tuple[str, int, str]]:
    for row in journal.iter_objects("status = 'done'"):
        assert row.sha256 is not None  # checked by _not_clean
        yield row.key, row.size, row.sha256


def build_certificate(
    journal_path: str | Path,
    *,
    signer: Signer,
    public_key: str,
    hub_name: str,
    issued_at: str,
    manifest_out: IO[str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Certificate:
    """The signed certificate of a cleanly verified migration; writes the CSV manifest too."""
    if chunk_rows < 1 or chunk_rows & (chunk_rows - 1):
        raise UsageError("chunk_rows must be a power of two (1024 by default).")
    journal = Journal.open(journal_path)
    try:
        with JournalLock(journal_path):  # no run, sync or verify changes it while it is read
            return _build(
                journal, signer, public_key, hub_name, issued_at, manifest_out, chunk_rows
            )
    finally:
        journal.close()


def _build(
    journal: Journal,
    signer: Signer,
    public_key: str,
    hub_name: str,
    issued_at: str,
    manifest_out: IO[str] | None,
    chunk_rows: int,
) -> Certificate:
    verify_pass, mode = _not_clean(journal)
    tree = ManifestTree(chunk_rows)
    if manifest_out:
        manifest_out.write(",".join(MANIFEST_HEADER) + "\n")
    for key, size, sha256 in _rows(journal):
        tree.add(key, size, sha256)
        if manifest_out:
            manifest_out.write(manifest_line(key, size, sha256))
    root = tree.finish()
    copies = [p for p in journal.passes() if p["command"] in ("run", "sync")]
    meta = journal.meta
    src_provider, src_region = _location(journal.source_url, meta.get("source_provider"))
    dst_provider, dst_region = _location(journal.dest_url, meta.get("dest_provider"))
    body: dict[str, Any] = {
        "format": FORMAT,
        "hub": hub_name,
        "migration_id": journal.migration_id,
        "issued_at": issued_at,
        "source": _profile(journal.source_url, src_provider, src_region),
        "destination": _profile(
            journal.dest_url, dst_provider, meta.get("dest_region") or dst_region
        ),
        "time": {
            "planned_at": meta.get("created_at"),
            "copy_started_at": copies[0]["started_at"] if copies else None,
            "copy_finished_at": copies[-1]["finished_at"] if copies else None,
            "verified_at": verify_pass["finished_at"],
        },
        "verify": {
            "mode": mode,
            "pass": verify_pass["id"],
            "checked": int(verify_pass["stats"].get("checked", 0)),
            "decrypted": int(verify_pass["stats"].get("decrypted", 0)),
        },
        "manifest": {
            "objects": tree.objects,
            "bytes": tree.total_bytes,
            "root": root,
            "chunk_rows": chunk_rows,
            "leaf": "sha256(0x00 || u32be(len(key)) || key || u64be(size) || sha256)",
            "node": "sha256(0x01 || left || right)",
        },
        "chunks": tree.chunks,
    }
    return Certificate(body, public_key, signer(signed_message(body)))
