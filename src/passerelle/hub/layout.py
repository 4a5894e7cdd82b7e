"""Where the hub keeps each thing in its data store, built from checked names (pure).

::

    datasets/<dataset>/v<version>/<table>/part-NNNNN.parquet     ingested tables
    quarantine/<dataset>/v<version>/_quarantine/<table>/...      rows refused at ingestion
    workspaces/project-<id>/extracts/<dataset>/...               a project's extracts
    workspaces/project-<id>/queries/, releases/project-<id>/     results and releases
    <hub name>/audit-checkpoints/<seq>.json                      signed audit checkpoints

Every prefix a user-chosen name enters is built here, after the name passed its
allow-list (:func:`passerelle.storage.keys.check_name`): a name is one segment of
lowercase letters, digits and ``_``, so it can neither climb out of its folder
nor land in another kind's (no hub name may be ``datasets``, ``workspaces``...).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from passerelle.errors import UsageError
from passerelle.storage.keys import DATASET, DERIVED, TABLE, check_key, check_name, check_prefix

__all__ = [
    "VERSION_FOLDERS",
    "IngestTargets",
    "check_version_key",
    "extract_prefix",
    "ingest_targets",
    "made_by_ingest",
]

VERSION_FOLDERS = ("datasets", "quarantine")
"""The folders of the hub's store a dataset version's files may lie in: ingested tables
and refused rows (a file under ``quarantine/`` makes its dataset a quarantine)."""


@dataclass(frozen=True)
class IngestTargets:
    """Where one ingest under ``dataset`` writes, and the catalog names it registers."""

    dataset: str
    root: str  # datasets/<dataset>
    quarantine_root: str  # quarantine/<dataset>
    tables: dict[str, str]  # table (schema view) -> catalog name
    quarantine: str  # <dataset>_quarantine

    def catalog_names(self) -> list[tuple[str, str]]:
        """(catalog name, the folder its files must lie in), quarantine last."""
        return [(n, self.root) for n in self.tables.values()] + [
            (self.quarantine, self.quarantine_root)
        ]


def ingest_targets(dataset: str, tables: Sequence[str]) -> IngestTargets:
    """Check an ingest's chosen name and its schema's table names, before anything is written.

    One table is registered under ``dataset``; several (FHIR) as ``<dataset>_<table>``;
    refused rows as ``<dataset>_quarantine``. Every derived name must itself be valid.
    """
    check_name(dataset, DATASET)
    for table in tables:
        check_name(table, TABLE)
    if len(set(tables)) != len(tables) or not tables:
        raise UsageError(f"the schema for {dataset!r} must name each of its tables once")
    names = {t: dataset if len(tables) == 1 else f"{dataset}_{t}" for t in tables}
    quarantine = f"{dataset}_quarantine"
    for name in (*names.values(), quarantine):
        check_name(name, DERIVED)
    return IngestTargets(
        dataset,
        check_prefix(f"datasets/{dataset}"),
        check_prefix(f"quarantine/{dataset}"),
        names,
        quarantine,
    )


def made_by_ingest(locations: Iterable[str], folder: str) -> bool:
    """Whether a catalog entry's files all lie in ``folder`` of the hub's store (and it has
    some): the mark that an ingest under that folder's name made it."""
    hub_locations = [loc.removeprefix("hub:") for loc in locations]
    return bool(hub_locations) and all(
        "://" not in loc and loc.startswith(folder.rstrip("/") + "/") for loc in hub_locations
    )


def check_version_key(key: str) -> str:
    """A version's file given as a key of the hub's store: checked like any key, and in
    ``datasets/`` or ``quarantine/`` only, so no catalog entry can be made of a project's
    extracts or results, a release, the audit checkpoints or the cache."""
    check_key(key, what="file key")
    if key.split("/", 1)[0] not in VERSION_FOLDERS:
        raise UsageError(
            f"the file key {key!r} is not under datasets/ or quarantine/ of the hub's store; "
            "a version's files are ingested tables (register other data by ingesting it)"
        )
    return key


def extract_prefix(project_id: int, dataset: str) -> str:
    """The folder of one dataset's extract in a project's workspace."""
    if isinstance(project_id, bool) or not isinstance(project_id, int) or project_id < 1:
        raise UsageError(f"{project_id!r} is not a project id")
    check_name(dataset, DERIVED)
    return check_prefix(f"workspaces/project-{project_id}/extracts/{dataset}")
