"""The catalog exported in DCAT-AP 3 / HealthDCAT-AP: which entries, and what of each.

Two views, each entry decided by ``rules.decide``:

- the public view (``actor`` is ``None``, or ``public=True``): the entries in the public
  catalog (``Action.DATASET_READ_PUBLIC``: discoverable, not a quarantine), with their
  title, description, supplier, columns and versions (number and date). No row count,
  no size, no version note (ingestion's notes count quarantined rows), no store URL,
  file, classification, grant, project or user name: a description ingestion wrote
  (``ingested from`` its source's URL) reads as the entry's supplier instead, and a
  store URL in a steward's description, of the entry or of a column (any ``scheme://``
  but http and https), as "a store of the hub".
- the restricted view of a signed-in ``actor``: the entries ``Action.DATASET_READ_ENTRY``
  lets them see (what ``list_datasets`` lists them), with the row count, each
  version's size and note besides; still no store URL nor file.

A signed-in export is audited as one ``catalog.export`` event; the public view is not
(an unauthenticated caller would otherwise write to the audit log at will), and the API
serves it from a ``PublicCatalog``: built again only after the catalog may have changed.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from passerelle.hub.dcat import (
    CatalogDescription,
    ColumnRecord,
    Contact,
    DatasetRecord,
    Format,
    Publisher,
    VersionRecord,
    catalog_graph,
    serialize,
)
from passerelle.hub.rules import ANONYMOUS, Action, Principal, decide

if TYPE_CHECKING:
    from rdflib import Graph
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub, HubConfig

__all__ = [
    "PublicCatalog",
    "catalog_as_graph",
    "catalog_base",
    "catalog_description",
    "export_catalog",
    "hdab_contact",
    "public_description",
]

_INGESTED = re.compile(r"ingested from \S+")
_STORE_URL = re.compile(
    r"(?<![A-Za-z0-9+.-])(?!https?://)[A-Za-z][A-Za-z0-9+.-]*+://\S*", re.IGNORECASE
)
"""A URL of any scheme but http(s). A scheme starts only where no scheme character comes
before it (``\b`` let it start at every letter of ``a.a.a...``: 64 kB took 18 s)."""


def catalog_base(config: HubConfig) -> str:
    """Where every IRI of the hub's catalog starts: ``catalog_url``, else an address under
    the reserved ``.invalid`` domain, which names the hub and resolves nowhere."""
    return config.catalog_url or f"https://{config.name.replace('_', '-')}.invalid/"


def hdab_contact(config: HubConfig) -> Contact:
    """The health data access body: ``hdab_name`` and ``hdab_email``, else the hub's name
    and an address under ``.invalid`` (one that says "set hdab_email", never a guess)."""
    default = f"hdab@{config.name.replace('_', '-')}.invalid"
    return Contact(config.hdab_name or config.name, config.hdab_email or default)


def export_catalog(
    hub: Hub, actor: Principal | None, format: Format, *, public: bool = False
) -> str:
    """The catalog ``actor`` may see (``None``: the public view) as JSON-LD or Turtle."""
    return serialize(catalog_as_graph(hub, actor, public=public), format)


def catalog_as_graph(hub: Hub, actor: Principal | None, *, public: bool = False) -> Graph:
    return catalog_graph(catalog_description(hub, actor, public=public))


def catalog_description(
    hub: Hub, actor: Principal | None, *, public: bool = False
) -> CatalogDescription:
    """The records of the view ``actor`` gets (see the module's docstring)."""
    restricted = actor is not None and not public
    if actor is None:
        with hub.db.read() as session:
            datasets = _records(hub, session, ANONYMOUS, restricted=False)
    else:
        from passerelle.hub.audit import append_event

        with hub.transaction() as session:
            datasets = _records(hub, session, actor, restricted=restricted)
            append_event(
                hub,
                session,
                actor=actor.name,
                action="catalog.export",
                target="catalog",
                decision="allowed",
                details={
                    "view": "restricted" if restricted else "public",
                    "visible": len(datasets),
                },
            )
    return _description(hub, datasets, restricted=restricted)


def _description(
    hub: Hub, datasets: list[DatasetRecord], *, restricted: bool
) -> CatalogDescription:
    config = hub.config
    return CatalogDescription(
        base=catalog_base(config),
        hub=config.name,
        contact=hdab_contact(config),
        modified=max((d.modified for d in datasets), default=hub.now()),
        datasets=tuple(datasets),
        country=config.catalog_country,
        restricted=restricted,
    )


@dataclass(frozen=True)
class _Built:
    head: int  # the audit log's head when ``records`` were read
    records: tuple[DatasetRecord, ...]
    text: str


class PublicCatalog:
    """The public view's text per format, serialized again only when its records changed.

    Every change to what the public view shows (an entry, its discoverability, a version,
    an organization) appends an audit event in its own transaction, and the head is read
    before the records, so a text served is never older than the last committed change.
    While the head has not moved a request costs one head query. Most events change
    nothing the view shows (every signed-in read is audited), so once it has moved the
    records are read again (a few queries) and the graph is built and serialized (seconds
    for a few hundred entries) only when they differ: an unrelated event, however cheap
    for whoever caused it, never makes the next anonymous request rebuild the catalog.
    One lock lets a single request build at a time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: dict[Format, _Built] = {}
        self.builds = 0

    def text(self, hub: Hub, format: Format) -> str:
        from passerelle.hub.audit import head_seq

        with hub.db.read() as session:
            head = head_seq(session)
            known = self._built.get(format)
            if known is not None and known.head == head:
                return known.text
            records = tuple(_records(hub, session, ANONYMOUS, restricted=False))
        with self._lock:
            known = self._built.get(format)
            if known is None or known.records != records:
                built = _description(hub, list(records), restricted=False)
                known = _Built(head, records, serialize(catalog_graph(built), format))
                self.builds += 1
            if head >= (self._built[format].head if format in self._built else -1):
                self._built[format] = _Built(head, records, known.text)
            return known.text


def _records(
    hub: Hub, session: Session, actor: Principal, *, restricted: bool
) -> list[DatasetRecord]:
    from sqlalchemy import select

    from passerelle.hub.catalog import parse_schema
    from passerelle.hub.dataset_facts import datasets_facts
    from passerelle.hub.tables import Dataset, Organization

    rows = session.execute(
        select(Dataset, Organization)
        .join(Organization, Organization.id == Dataset.organization_id)
        .order_by(Dataset.name)
    ).all()
    facts = datasets_facts(session, [d for d, _ in rows])
    action = Action.DATASET_READ_ENTRY if restricted else Action.DATASET_READ_PUBLIC
    today = hub.now().date()
    visible = [
        (d, o) for d, o in rows if decide(actor, action, today=today, dataset=facts[d.id]).allowed
    ]
    versions = _versions(session, [d.id for d, _ in visible], restricted=restricted)
    records = []
    for d, org in visible:
        own = versions.get(d.id, [])
        records.append(
            DatasetRecord(
                name=d.name,
                description=d.description if restricted else public_description(d.description),
                publisher=Publisher(org.code, org.name),
                format=d.format,
                issued=d.created_at,
                modified=max((v.issued for v in own), default=d.created_at),
                columns=tuple(
                    ColumnRecord(
                        c.name,
                        c.type,
                        c.description if restricted else public_description(c.description),
                    )
                    for c in parse_schema(d.schema)
                ),
                versions=tuple(own),
                records=d.row_count if restricted else None,
                covers_from=d.covers_from,
                covers_until=d.covers_until,
            )
        )
    return records


def public_description(text: str | None) -> str:
    """A description fit for the public view (pure): ingestion's own ``ingested from
    URL`` is dropped (the graph then names the supplier), store URLs are replaced."""
    text = text or ""
    if _INGESTED.fullmatch(text.strip()):
        return ""
    return _STORE_URL.sub("a store of the hub", text)


def _versions(
    session: Session, ids: list[int], *, restricted: bool
) -> dict[int, list[VersionRecord]]:
    from collections import defaultdict

    from sqlalchemy import select

    from passerelle.hub.database import chunked
    from passerelle.hub.tables import DatasetVersion

    found: dict[int, list[VersionRecord]] = defaultdict(list)
    for chunk in chunked(ids):
        rows = session.execute(
            select(
                DatasetVersion.dataset_id,
                DatasetVersion.version,
                DatasetVersion.created_at,
                DatasetVersion.files,
                DatasetVersion.note,
            )
            .where(DatasetVersion.dataset_id.in_(list(chunk)))
            .order_by(DatasetVersion.dataset_id, DatasetVersion.version)
        )
        for dataset_id, number, created_at, files, note in rows:
            found[dataset_id].append(_version(number, created_at, files, note, restricted))
    return found


def _version(
    number: int, created_at: datetime, files: list[Any], note: str, restricted: bool
) -> VersionRecord:
    if not restricted:
        return VersionRecord(number, created_at)
    size = sum(int(f.get("size", 0)) for f in files if isinstance(f, dict))
    return VersionRecord(number, created_at, size, note or None)
