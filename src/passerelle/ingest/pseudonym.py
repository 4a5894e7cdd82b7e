"""Person pseudonyms: keyed HMAC-SHA-256 of the normalized NIR, birth date and sex.

The message hashed for one person is the UTF-8 text ``BODY|YYYY-MM-DD|S`` where
``BODY`` is the 13-character NIR body (normalized: no spaces, dots or dashes,
upper-case, Corsica kept as ``2A``/``2B``; the control key is left out since
it follows from the body), the ISO birth date, and ``S`` is ``1`` for male and
``2`` for female.  The pseudonym is the lowercase hex of the 32-byte HMAC.  The
key is supplied by the caller as ``bytes`` and is never written anywhere.

A FHIR Patient without any NIR (no INS in ``Patient.identifier``) gets a *local*
pseudonym instead: the HMAC of ``local|SYSTEM|VALUE``, its first other
identifier (the hospital's patient number under the hospital's system).  It
cannot collide with a NIR identity (a NIR body never starts with ``local``) and
does not link to other sources.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING

from passerelle.errors import UsageError
from passerelle.ingest.nir import normalize_nir

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "MIN_KEY_BYTES",
    "check_key",
    "identity_message",
    "normalize_sex",
    "pseudonym",
    "pseudonymize",
    "pseudonymize_local",
    "rekey",
]

MIN_KEY_BYTES = 16

_SEX = {
    "1": "1",
    "2": "2",
    "m": "1",
    "h": "1",
    "male": "1",
    "f": "2",
    "female": "2",
}


def check_key(key: bytes, what: str = "pseudonym key") -> None:
    """Refuse keys that are not bytes or are too short (the key itself is never shown)."""
    if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY_BYTES:
        raise UsageError(
            f"The {what} must be at least {MIN_KEY_BYTES} random bytes; "
            "take it from the hub's key store."
        )


def normalize_sex(text: str) -> str | None:
    """``"1"`` (male) or ``"2"`` (female) from the usual spellings, else ``None``."""
    return _SEX.get(text.strip().lower())


def identity_message(nir: str, birth_date: str, sex: str) -> bytes:
    """The bytes hashed for one person (see the module docstring)."""
    code = normalize_sex(sex)
    if code is None:
        raise ValueError(f"unknown sex code {sex!r}")
    return f"{normalize_nir(nir)[:13]}|{birth_date}|{code}".encode()


def pseudonym(key: bytes, nir: str, birth_date: str, sex: str) -> str:
    """The person pseudonym (64 hex characters) for one identity."""
    return hmac.digest(key, identity_message(nir, birth_date, sex), "sha256").hex()


def _hmac_hex(key: bytes) -> Callable[[str], str]:
    """A fast HMAC-SHA-256 (RFC 2104) of text, as hex: the padded-key states are hashed once."""
    block = key if len(key) <= 64 else hashlib.sha256(key).digest()
    block = block.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def mac(text: str) -> str:
        i = inner.copy()
        i.update(text.encode())
        o = outer.copy()
        o.update(i.digest())
        return o.hexdigest()

    return mac


def _hmac_column(key: bytes, messages: pa.Array) -> pa.Array:
    """HMAC-hex of every string of ``messages``, computing each distinct value once."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    encoded = pc.dictionary_encode(messages)
    mac = _hmac_hex(key)
    values = [mac(m) if m is not None else None for m in encoded.dictionary.to_pylist()]
    return pc.take(pa.array(values, pa.string()), encoded.indices)


def pseudonymize(key: bytes, nir: pa.Array, birth_date: pa.Array, sex: pa.Array) -> pa.Array:
    """Vectorised :func:`pseudonym`: ``nir`` normalized 15-character strings,
    ``birth_date`` ISO strings, ``sex`` codes ``1``/``2``; nulls stay null."""
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    body = pc.utf8_slice_codeunits(nir, 0, 13)
    return _hmac_column(key, pc.binary_join_element_wise(body, birth_date, sex, "|"))


def pseudonymize_local(key: bytes, local_ids: pa.Array) -> pa.Array:
    """Local pseudonyms of ``system|value`` identifiers (HMAC of ``local|`` + the text)."""
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    return _hmac_column(key, pc.binary_join_element_wise("local", local_ids, "|"))


def rekey(key: bytes, pseudonyms: pa.Array) -> pa.Array:
    """Project pseudonyms: HMAC-SHA-256(``key``, pseudonym text), as hex."""
    return _hmac_column(key, pseudonyms)
