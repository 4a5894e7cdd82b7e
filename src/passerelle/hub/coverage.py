"""The period a dataset's data covers, as its steward declares it (pure).

A steward knows that the PMSI extract holds the stays of 2019 to 2023; the hub does
not compute it from the rows (a first or last date of a small cohort can tell who is
in it, and a declared period is what a catalog publishes). The period is written
``START/END`` in ISO 8601 dates (``2019-01-01/2023-12-31``), ``START/`` while the
collection goes on, and ``unknown`` (or an empty text) when it is not known; the
catalog's DCAT-AP export shows it as ``dct:temporal``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from passerelle.errors import UsageError

__all__ = ["EARLIEST", "LATEST", "UNKNOWN", "Coverage", "parse_coverage"]

EARLIEST = date(1900, 1, 1)
LATEST = date(2199, 12, 31)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FORM = "write it START/END in dates (2019-01-01/2023-12-31), START/ if it goes on, or unknown"


@dataclass(frozen=True)
class Coverage:
    """``start`` to ``end`` (both included); ``end`` ``None`` while data keeps coming,
    both ``None`` when the period is not known."""

    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        if self.start is None and self.end is not None:
            raise UsageError(f"a period needs its start before its end; {_FORM}")
        for day in (self.start, self.end):
            if day is not None and not EARLIEST <= day <= LATEST:
                raise UsageError(
                    f"the period's date {day.isoformat()} is outside "
                    f"{EARLIEST.isoformat()} to {LATEST.isoformat()}; {_FORM}"
                )
        if self.start is not None and self.end is not None and self.end < self.start:
            raise UsageError(
                f"the period ends ({self.end.isoformat()}) before it starts "
                f"({self.start.isoformat()}); {_FORM}"
            )

    @property
    def known(self) -> bool:
        return self.start is not None

    def __str__(self) -> str:
        if self.start is None:
            return "unknown"
        return f"{self.start.isoformat()}/{self.end.isoformat() if self.end else ''}"


UNKNOWN = Coverage()


def parse_coverage(text: str) -> Coverage:
    """``START/END``, ``START/`` or ``unknown`` (see the module) as a :class:`Coverage`."""
    value = text.strip()
    if value in ("", "unknown"):
        return UNKNOWN
    start, slash, end = value.partition("/")
    if not slash:
        raise UsageError(f"the period {_shown(text)} has no '/'; {_FORM}")
    return Coverage(_day(start), _day(end) if end else None)


def _day(text: str) -> date:
    if not _DATE.fullmatch(text):
        raise UsageError(f"{_shown(text)} is not a date YYYY-MM-DD; {_FORM}")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{_shown(text)} is not a day of the calendar; {_FORM}") from None


def _shown(text: str) -> str:
    return repr(text[:40] + ("..." if len(text) > 40 else ""))
