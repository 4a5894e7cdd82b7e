"""The one rule for object keys and for the names the hub builds keys from (pure).

Keys are relative to a store's root. :func:`check_key` refuses every key that
could leave that root or mean something else on another backend: empty keys,
a leading ``/``, a trailing ``/`` (a folder, not an object), empty, ``.`` or
``..`` segments, backslashes (Azure and Windows read them as ``/``), control
characters (C0, DEL, C1: NUL, newline...), bidirectional overrides and line
separators (a key that displays differently from what it is), text that is not
valid Unicode, and keys over 1024 UTF-8 bytes (the S3 and Azure limit).
Spaces, ``%``, ``#``, ``+`` and non-ASCII letters stay allowed: stores hold such
keys and a migration must carry them.

Names a user chooses (dataset, hub, schema view...) pass a stricter allow-list,
:func:`check_name`: they become one key segment and often a SQL identifier, so
``/``, dots and case never reach a key through them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from passerelle.errors import UsageError

__all__ = [
    "DATASET",
    "DERIVED",
    "HUB",
    "HUB_PREFIXES",
    "MAX_KEY_BYTES",
    "RESERVED_SUFFIXES",
    "TABLE",
    "NameRule",
    "ascii_number",
    "check_key",
    "check_name",
    "check_prefix",
    "join_key",
]

MAX_KEY_BYTES = 1024
"""The longest key every backend takes (S3: 1024 bytes of UTF-8; Azure: 1024 characters)."""

_BIDI_AND_SEPARATORS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029"
)


def _bad_character(key: str) -> str | None:
    """A description of the first character a key may not hold, or None."""
    for char in key:
        code = ord(char)
        if code < 0x20 or 0x7F <= code <= 0x9F:
            return f"the control character U+{code:04X}"
        if char in _BIDI_AND_SEPARATORS:
            return f"the invisible formatting character U+{code:04X}"
        if char == "\\":
            return "a backslash"
        if 0xD800 <= code <= 0xDFFF:
            return f"the lone surrogate U+{code:04X} (not valid Unicode)"
    return None


def _check_path(key: str, what: str) -> None:
    bad = _bad_character(key)
    if bad is not None:
        raise UsageError(f"The {what} {key!r} contains {bad}; rename it.")
    if key.startswith("/"):
        raise UsageError(f"The {what} {key!r} starts with '/'; keys are relative to the store.")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise UsageError(
            f"The {what} {key[:40]!r}... is over {MAX_KEY_BYTES} bytes of UTF-8; use a shorter key."
        )
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise UsageError(
                f"The {what} {key!r} has an empty, '.' or '..' segment; such keys are refused."
            )


def check_key(key: str, *, what: str = "object key") -> str:
    """Return ``key`` if it names an object safely below a store's root, else raise
    :class:`~passerelle.errors.UsageError` with one sentence saying why."""
    if not isinstance(key, str) or not key:
        raise UsageError(f"The {what} is empty; give the key of an object.")
    if key.endswith("/"):
        raise UsageError(f"The {what} {key!r} ends with '/'; that names a folder, not an object.")
    _check_path(key, what)
    return key


def check_prefix(prefix: str, *, what: str = "prefix") -> str:
    """Return ``prefix`` without its one optional trailing ``/`` if it is a safe listing
    prefix or store sub-root (``""`` is the whole store), else raise ``UsageError``."""
    if not isinstance(prefix, str):
        raise UsageError(f"The {what} must be text.")
    trimmed = prefix[:-1] if prefix.endswith("/") else prefix
    if prefix and not trimmed:
        raise UsageError(f"The {what} '/' is absolute; give a prefix relative to the store.")
    if trimmed:
        _check_path(trimmed, what)
    return trimmed


_ASCII_NUMBER = re.compile(r"[0-9]{1,18}")


def ascii_number(text: str) -> int | None:
    """The whole number ``text`` spells in ASCII digits (at most 18), else None.

    ``str.isdigit`` also accepts superscripts (``'²'``, which ``int`` then refuses
    with a traceback) and other scripts' digits (``'٥'``, which ``int`` reads as 5):
    a key or a name planted with those must not pass for, or crash, a number.
    """
    return int(text) if isinstance(text, str) and _ASCII_NUMBER.fullmatch(text) else None


def join_key(*parts: str) -> str:
    """Join checked parts with ``/`` and check the whole as a key."""
    return check_key("/".join(check_prefix(p) for p in parts if p))


@dataclass(frozen=True, slots=True)
class NameRule:
    """An allow-list grammar for one kind of user-chosen name."""

    what: str
    pattern: re.Pattern[str]
    described: str
    reserved_suffixes: tuple[str, ...] = ()
    reserved: frozenset[str] = frozenset()


RESERVED_SUFFIXES = ("_quarantine",)
"""Name endings the hub gives its own derived datasets (``<name>_quarantine``)."""

HUB_PREFIXES = frozenset({"datasets", "quarantine", "workspaces", "releases", "archive", "cache"})
"""The top-level prefixes the hub writes in its data store; no hub may be named after one."""

DATASET = NameRule(
    "dataset name",
    re.compile(r"[a-z][a-z0-9_]{1,62}"),
    "2-63 lowercase ASCII letters, digits and '_', starting with a letter "
    "(it becomes a SQL table name and a folder of the hub's store)",
    RESERVED_SUFFIXES,
)
DERIVED = NameRule(
    "dataset name",
    DATASET.pattern,
    DATASET.described,
)
"""Names the hub derives itself (``<name>_<table>``, ``<name>_quarantine``): grammar only."""
TABLE = NameRule(
    "table name",
    re.compile(r"[a-z][a-z0-9_]{0,62}"),
    "1-63 lowercase ASCII letters, digits and '_', starting with a letter "
    "(it becomes part of a dataset name and a folder of the hub's store)",
    RESERVED_SUFFIXES,
)
HUB = NameRule(
    "hub name",
    re.compile(r"[a-z][a-z0-9_-]{0,62}"),
    "1-63 lowercase ASCII letters, digits, '_' or '-', starting with a letter "
    "(it names the folder of the audit checkpoints)",
    reserved=HUB_PREFIXES,
)

REPLICA = NameRule(
    "replica name",
    re.compile(r"[a-z][a-z0-9_-]{0,62}"),
    "1-63 lowercase ASCII letters, digits, '_' or '-', starting with a letter "
    "(it names the replica's journal file)",
)


def check_name(value: object, rule: NameRule) -> str:
    """Return ``value`` if it follows ``rule`` exactly (the whole text, no trailing
    newline), else raise :class:`~passerelle.errors.UsageError`."""
    if not isinstance(value, str) or not rule.pattern.fullmatch(value):
        raise UsageError(f"invalid {rule.what} {value!r}: use {rule.described}")
    if value in rule.reserved:
        raise UsageError(
            f"the {rule.what} {value!r} is one of the hub's own folders; choose another name"
        )
    for suffix in rule.reserved_suffixes:
        if value.endswith(suffix):
            raise UsageError(
                f"the {rule.what} {value!r} ends with {suffix!r}, which the hub keeps for "
                "its own derived datasets; choose another name"
            )
    return value
