"""Generalization of quasi-identifiers: birth dates to year or month, postcodes to département.

Postcodes map to the département of the commune: the first two digits, except
Corsica (``20000``-``20199`` is ``2A``, ``20200``-``20999`` is ``2B``) and the
overseas départements and collectivities (``97x``, ``98x``: three digits).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["GENERALIZERS", "departement", "generalize", "truncate_date"]

GENERALIZERS = ("year", "year-month", "departement")


def departement(postcode: str) -> str:
    """The département code of a 5-digit French postcode."""
    if postcode.startswith("20"):
        return "2A" if postcode < "20200" else "2B"
    if postcode[:2] in ("97", "98"):
        return postcode[:3]
    return postcode[:2]


def truncate_date(iso: str, how: str) -> str:
    """``YYYY`` (``year``) or ``YYYY-MM`` (``year-month``) of an ISO date."""
    return iso[:4] if how == "year" else iso[:7]


def generalize(values: pa.Array, how: str) -> pa.Array:
    """Vectorised generalization of a string column (ISO dates or postcodes)."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    if how == "year":
        return pc.utf8_slice_codeunits(values, 0, 4)
    if how == "year-month":
        return pc.utf8_slice_codeunits(values, 0, 7)
    if how == "departement":
        two = pc.utf8_slice_codeunits(values, 0, 2)
        three = pc.utf8_slice_codeunits(values, 0, 3)
        corsica = pc.if_else(pc.less(values, "20200"), "2A", "2B")
        overseas = pc.is_in(two, value_set=pa.array(["97", "98"]))
        return pc.if_else(pc.equal(two, "20"), corsica, pc.if_else(overseas, three, two))
    raise ValueError(f"unknown generalization {how!r}")
