"""Check that a copied envelope still decrypts: the stored bytes are proven, now the plaintext.

``migrate verify --deep --decrypt`` reads each destination object once: the
stored bytes are hashed as they pass (the SHA-256 the journal recorded covers
ciphertext, not plaintext), and an object whose first bytes are an envelope is
decrypted through :class:`~passerelle.storage.encrypting.EncryptingStore` with the
hub's custody, which checks every segment and the authenticated plaintext
SHA-256 carried in the envelope.  Objects that are not envelopes (a
classification the hub keeps in plaintext) are counted, and proven by their
stored bytes alone.  Each failure is one sentence naming the cause: tampered
bytes or header, a missing wrapped key, a destroyed or unknown KEK.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from passerelle.errors import KeyUnavailableError, TamperedDataError
from passerelle.storage.base import ObjectReader, StoreWrapper

if TYPE_CHECKING:
    from passerelle.keys.custody import KeyCustody
    from passerelle.storage.base import Store

__all__ = ["DecryptCheck", "DecryptOutcome"]


@dataclass(frozen=True, slots=True)
class DecryptOutcome:
    """What one object gave: its stored size and SHA-256, and either the authenticated
    plaintext SHA-256 (``plaintext_sha256``), ``None`` for a plaintext object, or the
    one-sentence ``problem``."""

    size: int
    sha256: str
    envelope: bool
    plaintext_sha256: str | None = None
    problem: str | None = None


class _Tee(StoreWrapper):
    """Hashes the stored bytes of every whole-object read as they pass."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.sha = hashlib.sha256()
        self.size = 0
        self.whole_reads = 0

    def get(
        self,
        key: str,
        *,
        start: int | None = None,
        end: int | None = None,
        if_match: str | None = None,
        chunk_size: int = 8 * 1024 * 1024,
    ) -> ObjectReader:
        reader = super().get(key, start=start, end=end, if_match=if_match, chunk_size=chunk_size)
        if start is not None or end is not None:
            return reader
        self.whole_reads += 1
        self.sha, self.size = hashlib.sha256(), 0

        def chunks() -> Iterator[bytes]:
            for chunk in reader:
                self.sha.update(chunk)
                self.size += len(chunk)
                yield chunk

        return ObjectReader(reader.info, chunks(), reader.expected, label=key)


class DecryptCheck:
    """Decrypts destination objects with ``custody`` (objects' identities below
    ``identity_prefix``, as :class:`EncryptingStore` binds them)."""

    def __init__(self, custody: KeyCustody, *, identity_prefix: str = "") -> None:
        self.custody = custody
        self.identity_prefix = identity_prefix

    def check(self, store: Store, key: str, size: int) -> DecryptOutcome:
        """Read ``key`` (stored ``size`` bytes, from the listing) once: its stored size and
        SHA-256, and the plaintext check of an envelope.

        Raises :class:`ObjectNotFoundError` if the object is gone; storage errors propagate.
        """
        from passerelle.sovereignty.envelope import is_envelope
        from passerelle.storage.encrypting import EncryptingStore

        first = store.get(key, start=0, end=min(64, size)).read() if size else b""
        if not is_envelope(first):
            return DecryptOutcome(*_hash(store, key), envelope=False)
        tee = _Tee(store)
        encrypted = EncryptingStore(tee, self.custody, identity_prefix=self.identity_prefix)
        try:
            plain = encrypted.plaintext_digest(key)
        except KeyUnavailableError as exc:
            problem = _key_problem(store, key, self.custody, exc)
        except TamperedDataError:
            problem = _tamper_problem(store, key)
        else:
            if tee.whole_reads == 1 and tee.size == size:  # that one read was every stored byte
                return DecryptOutcome(size, tee.sha.hexdigest(), True, plaintext_sha256=plain)
            return DecryptOutcome(*_hash(store, key), True, plaintext_sha256=plain)
        return DecryptOutcome(*_hash(store, key), True, problem=problem)


def _hash(store: Store, key: str) -> tuple[int, str]:
    from passerelle.migration.copy import hash_object

    return hash_object(store, key)


def _envelope_keys(store: Store, key: str) -> tuple[str, str]:
    """(KEK id, wrapped data key) from the object's metadata, ``""`` where missing."""
    from passerelle.storage.encrypting import DEK_KEY, KEK_KEY

    metadata = store.head(key).metadata or {}
    return metadata.get(KEK_KEY, ""), metadata.get(DEK_KEY, "")


_NO_WRAPPED_KEY = (
    "its wrapped data key is missing from its metadata, so nothing can decrypt it; "
    "copy it again from the source"
)


def _key_problem(store: Store, key: str, custody: KeyCustody, exc: KeyUnavailableError) -> str:
    from passerelle.keys.custody import KekState

    key_id, wrapped = _envelope_keys(store, key)
    if not wrapped:
        return _NO_WRAPPED_KEY
    known = {kek.key_id: kek.state for kek in custody.keys()}  # noqa: SIM118
    state = known.get(key_id)
    if state is KekState.DESTROYED:
        return f"its key-encryption key {key_id} was destroyed, so it is crypto-erased"
    if state is None:
        return (
            f"its key-encryption key {key_id!r} is not in this custody; "
            "decrypt with the hub or key file that wrote it"
        )
    return f"the custody refused to unwrap its data key under {key_id} ({str(exc).rstrip('.')})"


def _tamper_problem(store: Store, key: str) -> str:
    _, wrapped = _envelope_keys(store, key)
    if not wrapped:
        return _NO_WRAPPED_KEY
    return (
        "it fails authentication (its ciphertext, header or wrapped key was changed, or it "
        "is read under another key than it was written with: see --identity-prefix); "
        "copy it again from the source"
    )
