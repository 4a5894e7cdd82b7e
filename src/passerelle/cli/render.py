"""Shared rendering helpers for the CLI (Rich consoles, sizes, dates)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["console", "error_console", "human_size", "iso"]


@cache
def console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


@cache
def error_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def iso(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else "-"
