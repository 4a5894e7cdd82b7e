"""Path, query and form values the portal's pages share, and their paging (pure)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Path, Query

__all__ = ["Csrf", "ItemId", "PageNo", "page_count"]

ItemId = Annotated[int, Path(ge=1, le=2**63 - 1)]
PageNo = Annotated[int, Query(ge=1, le=1_000_000)]
Csrf = Annotated[str, Form(max_length=200)]


def page_count(total: int, size: int) -> int:
    """Pages needed for ``total`` items of ``size`` each (at least one, shown empty)."""
    return max(1, -(-total // size))
