"""Query and path parameters shared by the routers (pagination, identifiers)."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Path, Query

from passerelle.api.models import MAX_INT, ListPage

__all__ = ["DatasetName", "ItemId", "Limit", "Offset", "Search", "UserName", "list_page"]

Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page (1 to 1000).")]
Offset = Annotated[int, Query(ge=0, le=MAX_INT, description="Items to skip.")]
Search = Annotated[
    str | None,
    Query(max_length=200, description="Keep entries whose name, description or supplier has it."),
]
ItemId = Annotated[int, Path(ge=1, le=MAX_INT, description="The numeric identifier.")]
_NAME = r"^[^\x00-\x1f\x7f/]+$"
DatasetName = Annotated[
    str, Path(min_length=1, max_length=64, pattern=_NAME, description="The dataset's name.")
]
UserName = Annotated[
    str, Path(min_length=1, max_length=64, pattern=_NAME, description="The user's name.")
]


T = TypeVar("T")


def list_page(items: list[T], limit: int, offset: int) -> ListPage[T]:
    """One page of a list the library returns whole."""
    return ListPage[T](
        items=items[offset : offset + limit], total=len(items), limit=limit, offset=offset
    )
