"""What the rules decide a dataset on: its visibility and every grant reaching it
(``datasets_facts`` for the whole catalog in a few queries), and its classification floor
(the least classification its schemas' column roles require, ``sovereignty.floor``)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn

from passerelle.errors import NotFoundError, PolicyViolationError, not_found
from passerelle.hub.audit import append_event
from passerelle.hub.rules import DatasetFacts, GrantFacts, Principal, is_quarantine
from passerelle.hub.tables import Dataset, DatasetVersion, Grant, Project
from passerelle.sovereignty.floor import Floor, catalog_roles, floor_of

if TYPE_CHECKING:
    from datetime import date, datetime

    from sqlalchemy import Row, Select
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub

__all__ = [
    "dataset_facts",
    "dataset_floor",
    "dataset_named",
    "datasets_facts",
    "refuse_below_floor",
]


def dataset_named(session: Session, name: str, missing: NotFoundError | None = None) -> Dataset:
    from sqlalchemy import select

    d = session.execute(select(Dataset).where(Dataset.name == name)).scalar_one_or_none()
    if d is None:
        raise missing or not_found("dataset", name)
    return d


def dataset_facts(session: Session, d: Dataset) -> DatasetFacts:
    """The dataset's visibility plus every grant reaching it, for the rules."""
    return datasets_facts(session, [d])[d.id]


def datasets_facts(
    session: Session, datasets: Sequence[Dataset | Row[Any]]
) -> dict[int, DatasetFacts]:
    """``dataset_facts`` of many datasets at once, by id, in a few queries (the catalog's
    list decides every entry: one query per entry made every read wait on the database)."""
    from collections import defaultdict

    from passerelle.hub.database import chunked
    from passerelle.hub.projects import projects_facts

    # SQL Core rows, not entities, from statements built once: every catalog read asks
    # this of every entry, and building a statement cost more than running it
    grants: dict[int, list[Any]] = defaultdict(list)
    held: dict[int, list[str]] = defaultdict(list)
    connection = session.connection()
    for ids in chunked([d.id for d in datasets]):
        for row in connection.execute(_grants_reaching(), {"ids": list(ids)}):
            grants[row.dataset_id].append(row)
        files = connection.execute(_version_files(), {"ids": list(ids)})
        for dataset_id, version_files in files:
            held[dataset_id] += [str(f["url"]) for f in version_files]
    projects = projects_facts(session, [row for rows in grants.values() for row in rows])
    return {
        d.id: DatasetFacts(
            d.id,
            d.discoverable,
            tuple(
                GrantFacts(projects[g.id], g.expires_on, g.revoked_at is not None)
                for g in grants[d.id]
            ),
            quarantine=is_quarantine(d.name, [*d.locations, *held[d.id]]),
        )
        for d in datasets
    }


@cache
def _grants_reaching() -> Select[  # each grant, then its project's FACT_COLUMNS
    int, date, datetime | None, int, str, int, int, date, date
]:
    """Each grant of the datasets ``:ids``, with the columns its project's facts need."""
    from sqlalchemy import bindparam, select

    from passerelle.hub.projects import FACT_COLUMNS

    return (
        select(Grant.dataset_id, Grant.expires_on, Grant.revoked_at, *FACT_COLUMNS)
        .join(Project, Project.id == Grant.project_id)
        .where(Grant.dataset_id.in_(bindparam("ids", expanding=True)))
        .order_by(Grant.id)
    )


@cache
def _version_files() -> Select[Any]:
    """The files of every version of the datasets ``:ids``."""
    from sqlalchemy import bindparam, select

    return select(DatasetVersion.dataset_id, DatasetVersion.files).where(
        DatasetVersion.dataset_id.in_(bindparam("ids", expanding=True))
    )


def dataset_floor(session: Session, d: Dataset) -> Floor:
    """The least classification ``d`` requires: the strictest of its schemas' column roles
    (the entry's and every version's, so a later version cannot lower it)."""
    from sqlalchemy import select

    columns = list(d.schema)
    for (schema,) in session.execute(
        select(DatasetVersion.schema).where(DatasetVersion.dataset_id == d.id)
    ):
        columns += list(schema)
    return floor_of(catalog_roles(columns))


def refuse_below_floor(
    hub: Hub,
    session: Session,
    actor: Principal,
    action: str,
    target: str,
    dataset: str,
    floor: Floor,
    classification: str,
) -> NoReturn:
    """Audit a classification below ``dataset``'s floor as denied, commit, and raise
    :class:`PolicyViolationError` with the one sentence saying what to classify it."""
    message = floor.refusal(dataset)
    append_event(
        hub,
        session,
        actor=actor.name,
        action=action,
        target=target,
        decision="denied",
        details={
            "rule": f"{floor.classification}.floor",
            "dataset": dataset,
            "classification": classification,
            "column": floor.column,
            "reason": message,
        },
    )
    session.commit()
    raise PolicyViolationError(message)
