"""Direct identifiers in text: NIRs with a valid control key, phone numbers, e-mails (pure).

:func:`find_identifiers` scans one Arrow string array in two stages.  One RE2
regular expression runs over the whole array (``pyarrow.compute``, vectorised,
no Python per row) and picks the *candidate* rows: a superset of what the exact
rules accept.  Only candidates (usually none) are then read in Python, where
the exact patterns (with look-around) find each identifier, a NIR-shaped one is
kept only when its control key is right (``nir.nir_key_ok``), and the value is
rewritten with each identifier replaced by ``[nir]``, ``[phone]`` or
``[email]``.  Values with non-ASCII characters are scanned *folded*: in their
NFKC form, without invisible format characters (zero-width spaces and joiners,
soft hyphens, bidi marks: Unicode category Cf) and with every decimal digit of
another script read as its ASCII digit, so full-width or Arabic-Indic digits,
non-breaking spaces or a zero-width space between two digits do not hide a
number a reader sees.

What counts:

- **NIR**: 15 characters -- sex ``1-4/7/8``, year, month, département (two
  digits, or ``2A``/``2B``), commune, order, key -- with up to two spaces, dots,
  dashes, slashes or underscores between any two of them, not glued to other
  digits or hexadecimal letters, and with a valid key (``97 - number mod 97``).
- **phone**: French ``0X XX XX XX XX`` (no separator, or one kind of separator
  throughout: space, dot, dash) and international ``+CC...`` or ``00CC ...``
  (a space after the country code) with 8 to 15 digits; not glued to letters or
  digits.
- **e-mail**: ``local@domain.tld``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from passerelle.ingest.nir import nir_key_ok

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["IDENTIFIER_KINDS", "Findings", "find_identifiers", "fold", "redact_text"]

IDENTIFIER_KINDS = ("nir", "phone", "email")
"""The kinds found, in the order they take priority when two overlap."""

_SEP = "[\t\n\x0b\f\r ./_\\-]"  # between NIR characters (literal characters: RE2 and re alike)
_S = f"{_SEP}{{0,2}}"
_NIR_BODY = f"[1-478](?:{_S}[0-9]){{4}}{_S}(?:[0-9]{_S}[0-9]|2{_S}[ABab])(?:{_S}[0-9]){{8}}"
_FR_PHONE = "|".join(f"0[1-9](?:{sep}[0-9]{{2}}){{4}}" for sep in ("", " ", "\\.", "-"))
_INTL_PHONE = r"(?:\+|00(?=[1-9][0-9]{0,2} ))[1-9](?:[ .\-]?\(?[0-9]\)?){7,14}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_EMAIL = rf"[A-Za-z0-9._%+\-]+@{_LABEL}(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{{2,}}"

_CANDIDATE = "|".join(
    (
        f"[1-478](?:{_S}[0-9ABab]){{14}}",
        _FR_PHONE,
        r"(?:\+|00)[1-9](?:[ .\-()]{0,3}[0-9]){7}",
        r"[A-Za-z0-9._%+\-]@[A-Za-z0-9\-]+\.[A-Za-z0-9\-]",
    )
)
"""RE2, for pyarrow: matches every value the exact patterns below can match (and more)."""

_EXACT = {
    "nir": re.compile(f"(?<![0-9A-Fa-f])(?=({_NIR_BODY})(?![0-9A-Fa-f]))"),
    "phone": re.compile(f"(?<![0-9A-Za-z+])(?=((?:{_FR_PHONE})|{_INTL_PHONE})(?![0-9A-Za-z]))"),
    "email": re.compile(f"(?<![A-Za-z0-9._%+\\-])({_EMAIL})"),
}
"""Overlapping searches (a look-ahead captures each match), so no alignment hides one."""


@dataclass(frozen=True, slots=True)
class Findings:
    """Per kind, the rows holding at least one such identifier; and the values redacted."""

    rows: dict[str, npt.NDArray[np.bool_]]
    redacted: pa.Array

    def any(self) -> npt.NDArray[np.bool_]:
        """Rows holding an identifier of any kind."""
        out = self.rows[IDENTIFIER_KINDS[0]].copy()
        for kind in IDENTIFIER_KINDS[1:]:
            out |= self.rows[kind]
        return out


_FORMAT = r"\p{Cf}"
"""Invisible format characters (RE2 and ``unicodedata`` agree on category Cf)."""
_OTHER_DIGIT = r"[^\P{Nd}0-9]"
"""A decimal digit that is not ASCII (RE2)."""


def fold(text: str) -> str:
    """``text`` as it is scanned: NFKC, no format character, every decimal digit ASCII."""
    if text.isascii():
        return text
    out = []
    for char in unicodedata.normalize("NFKC", text):
        if unicodedata.category(char) == "Cf":
            continue
        digit = unicodedata.decimal(char, None) if not char.isascii() else None
        out.append(char if digit is None else str(digit))
    return "".join(out)


def _spans(text: str) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    for kind, pattern in _EXACT.items():
        for match in pattern.finditer(text):
            start, end = match.span(1)
            if kind == "nir" and not nir_key_ok(re.sub("[^0-9A-Za-z]", "", match.group(1))):
                continue
            found.append((start, end, kind))
    return found


def redact_text(text: str) -> tuple[str, frozenset[str]]:
    """``text`` with every identifier replaced by ``[kind]``, and the kinds found.

    The text is scanned folded (:func:`fold`); a value holding an identifier comes
    back folded, others as they were."""
    original, text = text, fold(text)
    spans = sorted(_spans(text), key=lambda s: (s[0], IDENTIFIER_KINDS.index(s[2])))
    if not spans:
        return original, frozenset()
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in spans:
        if merged and start < merged[-1][1]:  # overlapping: one placeholder, first kind
            first, last, label = merged[-1]
            merged[-1] = (first, max(last, end), label)
        else:
            merged.append((start, end, kind))
    out, at = [], 0
    for start, end, kind in merged:
        out += [text[at:start], f"[{kind}]"]
        at = end
    out.append(text[at:])
    return "".join(out), frozenset(kind for _s, _e, kind in spans)


def find_identifiers(values: pa.Array) -> Findings:
    """Find direct identifiers in a string array; nulls hold none."""
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    n = len(values)
    rows = {kind: np.zeros(n, dtype=bool) for kind in IDENTIFIER_KINDS}
    if n == 0 or values.null_count == n:
        return Findings(rows, values)
    text = values
    ascii_only = pc.fill_null(pc.string_is_ascii(values), True)
    if not pc.all(ascii_only).as_py():  # fold(), vectorised for the prefilter
        folded = pc.utf8_normalize(values, form="NFKC")
        folded = pc.replace_substring_regex(folded, _FORMAT, "")
        text = pc.if_else(ascii_only, values, folded)
    candidates = pc.fill_null(pc.match_substring_regex(text, _CANDIDATE), False)
    if text is not values:  # other scripts' digits: read in Python, by the exact rules
        others = pc.fill_null(pc.match_substring_regex(text, _OTHER_DIGIT), False)
        candidates = pc.or_(candidates, others)
    where = np.flatnonzero(candidates.to_numpy(zero_copy_only=False))
    if not len(where):
        return Findings(rows, values)
    changed, replacements = [], []
    for row, value in zip(where.tolist(), values.take(pa.array(where)).to_pylist(), strict=True):
        redacted, kinds = redact_text(value)  # folds the original exactly
        for kind in kinds:
            rows[kind][row] = True
        if kinds:
            changed.append(row)
            replacements.append(redacted)
    if not changed:
        return Findings(rows, values)
    mask = np.zeros(n, dtype=bool)
    mask[changed] = True
    redacted_values = pc.replace_with_mask(values, pa.array(mask), pa.array(replacements))
    return Findings(rows, redacted_values)
