"""French social-security numbers (NIR): normalization and the control key.

A NIR is 13 characters -- sex (1 digit), birth year (2), birth month (2),
birth département (2, ``2A``/``2B`` for Corsica), commune (3), order (3) --
followed by a 2-digit control key equal to ``97 - (number mod 97)``.  For the
key, Corsica's ``2A`` counts as ``19`` and ``2B`` as ``18``.  Normalization
removes spaces, dots and dashes and upper-cases the letters.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["NIR_PATTERN", "nir_key", "nir_key_ok", "nir_keys_ok", "normalize_nir", "with_key"]

NIR_PATTERN = r"[1-478][0-9]{4}(?:[0-9]{2}|2[AB])[0-9]{6}[0-9]{2}"
"""A normalized NIR with its key (sex 1/2, or 3/4/7/8 for temporary numbers)."""

_NIR_RE = re.compile(NIR_PATTERN)
_SEPARATORS = re.compile(r"[\s.\-]")


def normalize_nir(text: str) -> str:
    """``text`` without spaces, dots or dashes, upper-cased."""
    return _SEPARATORS.sub("", text).upper()


def _numeric(body: str) -> int:
    corsica = {"2A": "19", "2B": "18"}.get(body[5:7])
    return int(body[:5] + corsica + body[7:] if corsica else body)


def nir_key(body: str) -> int:
    """The control key (1..97) of a 13-character NIR body."""
    if len(body) != 13:
        raise ValueError(f"a NIR body has 13 characters, not {len(body)}")
    return 97 - _numeric(body) % 97


def with_key(body: str) -> str:
    """The 15-character NIR: ``body`` followed by its 2-digit key."""
    return f"{body}{nir_key(body):02d}"


def nir_key_ok(text: str) -> bool:
    """Whether ``text`` (normalized first) is a well-formed NIR with the right key."""
    nir = normalize_nir(text)
    if not _NIR_RE.fullmatch(nir):
        return False
    return nir_key(nir[:13]) == int(nir[13:])


def nir_keys_ok(normalized: pa.Array) -> pa.Array:
    """Vectorised check of normalized NIR strings: true where format and key are right.

    Nulls and malformed strings give false.
    """
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    fmt = pc.fill_null(pc.match_substring_regex(normalized, f"^{NIR_PATTERN}$"), False)
    safe = pc.if_else(fmt, normalized, pa.scalar("100000000000000"))
    body = pc.utf8_slice_codeunits(safe, 0, 13)
    corsica = pc.utf8_slice_codeunits(body, 5, 7)
    body = pc.if_else(
        pc.equal(corsica, "2A"),
        pc.replace_substring(body, "2A", "19", max_replacements=1),
        pc.if_else(
            pc.equal(corsica, "2B"),
            pc.replace_substring(body, "2B", "18", max_replacements=1),
            body,
        ),
    )
    number = pc.cast(body, pa.int64())
    key = pc.cast(pc.utf8_slice_codeunits(safe, 13, 15), pa.int64())
    expected = pc.subtract(97, _mod97(number))
    return pc.and_(fmt, pc.equal(key, expected))


def _mod97(number: pa.Array) -> pa.Array:
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    return pc.subtract(number, pc.multiply(pc.divide(number, 97), 97))
