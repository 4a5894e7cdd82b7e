"""The ``Content-Disposition`` of a download, built in one place (pure).

``attachment(filename)`` is the header's value: an ASCII ``filename="..."`` for old
clients, in which every quote, backslash, control character (CR and LF included),
``%``, ``/``, ``;`` and non-ASCII character is replaced by ``_``, and the exact name as RFC 6266 /
RFC 5987 ``filename*=UTF-8''...`` (percent-encoded UTF-8, so no byte outside the
``attr-char`` set is left). Whatever the name holds, the header stays one line and
one parameter pair: nothing a name holds can end the header or add a parameter.
"""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["attachment"]

_ATTR_CHARS = "!#$&+-.^_`|~"
"""RFC 5987 ``attr-char`` beyond letters and digits (``quote`` keeps those)."""


def _ascii_fallback(filename: str) -> str:
    kept = "".join(
        c if 0x20 <= ord(c) < 0x7F and c not in '"\\%/;' else "_" for c in filename.strip()
    )
    return kept or "download"


def attachment(filename: str) -> str:
    """The ``Content-Disposition`` value offering ``filename`` as a download."""
    exact = quote(filename.encode("utf-8", "surrogatepass"), safe=_ATTR_CHARS)
    return f"attachment; filename=\"{_ascii_fallback(filename)}\"; filename*=UTF-8''{exact}"
