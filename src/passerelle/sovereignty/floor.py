"""The least classification a table's rows require, from what the hub itself declares (pure).

A steward chooses a dataset's classification, and hub.toml ``encrypt`` decides from it
whether the files are ciphertext. The choice is checked against a floor the hub derives
from the roles its own schemas give columns, never from the label it is checking::

    role        a column that ...                                   floor
    identity    [person] reads an identity from (NIR, resource id,  health-identifying
                Patient reference) and the schema keeps as written
    pseudonym   holds the person pseudonym ([person] column)        health-pseudonymized
    person-row  is declared nir or identifier (dropped at ingest):  health-pseudonymized
                the rows describe persons

A table with none of these roles has no floor (``reference``). Roles come from an ingest
schema's view (:func:`schema_roles`) or from catalog columns the hub described itself
(:func:`catalog_roles`, the descriptions ingestion writes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from passerelle.sovereignty.policy import CLASSIFICATIONS, check_classification

if TYPE_CHECKING:
    from passerelle.ingest.schema import ViewSpec

__all__ = [
    "IDENTITY",
    "IDENTITY_AS_WRITTEN",
    "NO_FLOOR",
    "PERSON_PSEUDONYM",
    "PERSON_ROW",
    "PSEUDONYM",
    "ROLE_FLOORS",
    "ColumnRole",
    "Floor",
    "catalog_roles",
    "floor_of",
    "identity_columns",
    "schema_roles",
    "stricter",
]

IDENTITY = "identity"
PSEUDONYM = "pseudonym"
PERSON_ROW = "person-row"
ROLE_FLOORS = {
    IDENTITY: "health-identifying",
    PSEUDONYM: "health-pseudonymized",
    PERSON_ROW: "health-pseudonymized",
}
"""The classification each column role requires at least."""

PERSON_PSEUDONYM = "person pseudonym"
"""The description ingestion gives a catalog column holding person pseudonyms."""
IDENTITY_AS_WRITTEN = "identity as written (direct identifier)"
"""The description ingestion gives a catalog column keeping a source identity as written."""

_WHAT = {
    IDENTITY: "keeps a direct identifier as written",
    PSEUDONYM: "holds row-level pseudonyms",
    PERSON_ROW: "holds row-level data about persons",
}


def stricter(a: str, b: str) -> str:
    """The more sensitive of two classifications."""
    return min(check_classification(a), check_classification(b), key=CLASSIFICATIONS.index)


@dataclass(frozen=True, slots=True)
class ColumnRole:
    """A column and the role that raises its table's floor."""

    column: str
    role: str


@dataclass(frozen=True, slots=True)
class Floor:
    """The least classification a table requires; ``column`` (of ``role``) is what raises it."""

    classification: str = CLASSIFICATIONS[-1]
    column: str = ""
    role: str = ""

    def admits(self, classification: str) -> bool:
        """Whether ``classification`` is this floor or stricter."""
        return stricter(classification, self.classification) == classification

    def refusal(self, dataset: str) -> str:
        """The one sentence refusing a classification below this floor for ``dataset``."""
        strictest = self.classification == CLASSIFICATIONS[0]
        more = "" if strictest else " or stricter"
        return (
            f"{dataset} {_WHAT[self.role]} (column {self.column}): classify it "
            f"{self.classification}{more}."
        )


NO_FLOOR = Floor()


def floor_of(roles: Iterable[ColumnRole]) -> Floor:
    """The floor of a table with these column roles: the strictest role's (the first column
    of that role names it); :data:`NO_FLOOR` without any."""
    best = NO_FLOOR
    for r in roles:
        need = ROLE_FLOORS[r.role]
        if need != best.classification and stricter(need, best.classification) == need:
            best = Floor(need, r.column, r.role)
    return best


def schema_roles(view: ViewSpec) -> tuple[ColumnRole, ...]:
    """The roles an ingest schema's view gives the columns of its table (and its source)."""
    roles: list[ColumnRole] = []
    person = view.person
    if person is not None:
        for ref in (person.nir, person.id, person.reference):
            if ref is not None and view.column(ref).kept:
                roles.append(ColumnRole(ref, IDENTITY))
        roles.append(ColumnRole(person.column, PSEUDONYM))
    roles += [ColumnRole(c.name, PERSON_ROW) for c in view.columns if c.nir or c.identifier]
    return tuple(roles)


def identity_columns(view: ViewSpec) -> tuple[str, ...]:
    """The columns of ``view``'s table keeping a source identity as written."""
    return tuple(r.column for r in schema_roles(view) if r.role == IDENTITY)


def catalog_roles(columns: Iterable[Mapping[str, Any] | Any]) -> tuple[ColumnRole, ...]:
    """The roles of catalog columns (mappings or :class:`~passerelle.hub.views.Column`),
    from the descriptions ingestion writes for them."""
    roles = []
    for c in columns:
        name, description = (
            (str(c.get("name", "")), str(c.get("description", "")))
            if isinstance(c, Mapping)
            else (str(getattr(c, "name", "")), str(getattr(c, "description", "")))
        )
        if description == IDENTITY_AS_WRITTEN:
            roles.append(ColumnRole(name, IDENTITY))
        elif description == PERSON_PSEUDONYM:
            roles.append(ColumnRole(name, PSEUDONYM))
    return tuple(roles)
