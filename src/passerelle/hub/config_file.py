"""hub.toml on disk: its text settings checked, and the file written whole or not at all.

Nothing here builds TOML by hand: :func:`write_document` serialises data with
``tomli_w``, so a quote, backslash, newline or ``[table]`` inside a value stays
inside that value. The text goes to a temporary file beside hub.toml, is parsed
back and compared with the data, read by ``read_settings``, and only then renamed
over hub.toml: a crash or a refusal leaves the old file (or none), never half of one.

:func:`check_text_settings` is what ``read_settings`` and ``init_hub`` ask of every
text setting: a string (not a number or a list), without control characters (names,
URLs and paths are one line) and without undecodable bytes (a non-UTF-8 argument).
"""

from __future__ import annotations

import os
import tomllib
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from passerelle.errors import ConfigError

__all__ = [
    "LIST_SETTINGS",
    "TEXT_SETTINGS",
    "check_text",
    "check_text_settings",
    "set_hub_setting",
    "undecodable_byte",
    "write_document",
]

TEXT_SETTINGS = (
    "name",
    "database",
    "store",
    "checkpoints",
    "keys",
    "witness",
    "custody",
    "kek_file",
    "pkcs11_module",
    "pkcs11_token",
    "pkcs11_pin_env",
    "catalog_url",
    "catalog_country",
    "hdab_name",
    "hdab_email",
)
"""The ``[hub]`` settings that are one line of text."""

LIST_SETTINGS = ("ingest_sources", "destinations", "encrypt")
"""The ``[hub]`` settings that are lists of one-line texts."""


def undecodable_byte(text: str) -> int | None:
    """The first byte of ``text`` that was not UTF-8 (a surrogate escape), else None."""
    for char in text:
        if 0xDC80 <= ord(char) <= 0xDCFF:  # how Python decodes a byte that is not UTF-8
            return ord(char) - 0xDC00
    return None


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a table"
    return f"a {type(value).__name__}"


def check_text(value: object, what: str) -> str:
    """``value`` if it is one line of printable text, else a one-sentence ConfigError
    naming ``what`` (``"hub.toml: store"``)."""
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be one line of text in quotes, not {_kind(value)}")
    byte = undecodable_byte(value)
    if byte is not None:
        raise ConfigError(f"{what} is not valid UTF-8 (byte 0x{byte:02x}); give it as UTF-8")
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs") or char in "\u2028\u2029":
            raise ConfigError(
                f"{what} must be one line of text, without control characters "
                f"(it holds U+{ord(char):04X}); remove it"
            )
    return value


def check_text_settings(section: Mapping[str, Any], where: str) -> None:
    """Every text setting of ``section`` (and each item of the list settings), checked."""
    for name in TEXT_SETTINGS:
        if name in section:
            check_text(section[name], f"{where}: {name}")
    for name in LIST_SETTINGS:
        items = section.get(name, ())
        if isinstance(items, list | tuple) and all(isinstance(i, str) for i in items):
            for item in items:  # (another shape is refused by the setting's own check)
                check_text(item, f"{where}: each item of {name}")


def write_document(path: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` as ``path`` (hub.toml) whole and checked (see the module doc)."""
    import tomli_w

    from passerelle.hub.hub import read_settings

    text = tomli_w.dumps(document)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        byte = undecodable_byte(text[exc.start : exc.end]) or 0
        raise ConfigError(
            f"a setting for {path} is not valid UTF-8 (byte 0x{byte:02x}); give it as UTF-8"
        ) from None
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if tomllib.loads(tmp.read_text(encoding="utf-8")) != _plain(document):
            raise ConfigError(f"{path} would not read back as written; it was left unchanged")
        read_settings(tmp)  # what every later start reads, refused now rather than then
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


def set_hub_setting(path: Path, name: str, value: str) -> None:
    """Set ``name = value`` in the ``[hub]`` table of ``path``: parsed, changed, written
    back through :func:`write_document` (comments in the file are not kept)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    section = document.get("hub")
    if not isinstance(section, dict):
        raise ConfigError(f"{path} has no [hub] section")
    check_text(value, f"{path}: {name}")
    document["hub"] = {**section, name: value}
    write_document(path, document)


def _plain(value: Any) -> Any:
    """``value`` as tomllib returns it: tuples are lists."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
