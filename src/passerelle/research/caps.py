"""The hub's caps on a research query, and what a caller may ask within them (pure).

``hub.toml`` sets the most any query may use (``query_max_rows``,
``query_max_seconds``, ``query_max_memory_mb``, ``query_max_threads``); the
command line and the API may ask for less, never more.  Asking for more is a
:class:`~passerelle.errors.UsageError` naming the cap: a researcher who asked
for ten minutes is told the hub allows one, rather than getting a silently
different limit.  What is not asked for is the cap itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from passerelle.errors import ConfigError, UsageError
from passerelle.research.sandbox import QueryLimits

__all__ = ["CAP_SETTINGS", "LimitRequest", "QueryCaps", "resolve_limits"]

CAP_SETTINGS = {
    "query_max_rows": "max_rows",
    "query_max_seconds": "max_seconds",
    "query_max_memory_mb": "max_memory_mb",
    "query_max_threads": "max_threads",
}
"""``hub.toml`` setting -> :class:`QueryCaps` field."""


@dataclass(frozen=True, slots=True)
class QueryCaps:
    """The most one query may use on this hub."""

    max_rows: int = 100_000
    max_seconds: float = 60.0
    max_memory_mb: int = 2048
    max_threads: int = 2

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], where: str = "hub.toml") -> QueryCaps:
        """The caps from ``hub.toml`` settings (missing ones at their defaults), checked."""
        values: dict[str, Any] = {}
        for setting, name in CAP_SETTINGS.items():
            if setting not in settings:
                continue
            value = settings[setting]
            number = (int, float) if name == "max_seconds" else (int,)
            low = 16 if name == "max_memory_mb" else 1
            if isinstance(value, bool) or not isinstance(value, number) or not value >= low:
                raise ConfigError(f"{where}: {setting} must be a number, {low} or more")
            values[name] = value
        return cls(**values)


@dataclass(frozen=True, slots=True)
class LimitRequest:
    """Limits a caller asks for; ``None`` takes the hub's cap."""

    max_rows: int | None = None
    timeout_s: float | None = None
    memory_mb: int | None = None
    threads: int | None = None


def _within(asked: float | None, cap: float, option: str, setting: str, unit: str) -> float:
    if asked is None:
        return cap
    if asked > cap:
        raise UsageError(
            f"{option} {asked:g}{unit} is more than this hub allows ({cap:g}{unit}, {setting} in "
            f"hub.toml); ask for {cap:g}{unit} or less."
        )
    return asked


def resolve_limits(caps: QueryCaps, request: LimitRequest | None = None) -> QueryLimits:
    """The limits a query runs with: what ``request`` asks, each at most the hub's cap."""
    request = request or LimitRequest()
    return QueryLimits(
        max_rows=int(
            _within(request.max_rows, caps.max_rows, "max_rows", "query_max_rows", " rows")
        ),
        timeout_s=_within(
            request.timeout_s, caps.max_seconds, "timeout", "query_max_seconds", " s"
        ),
        memory_mb=int(
            _within(request.memory_mb, caps.max_memory_mb, "memory", "query_max_memory_mb", " MB")
        ),
        threads=int(_within(request.threads, caps.max_threads, "threads", "query_max_threads", "")),
    )
