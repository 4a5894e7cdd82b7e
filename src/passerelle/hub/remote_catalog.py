"""Partner hubs' catalogs, imported as read-only remote datasets.

A steward imports a partner's DCAT-AP export (``catalog export`` on the other hub) under
a name for that partner, the ``source``; importing it again replaces what that source
gave before. The file is read by ``dcat_import`` (bounded, nothing fetched, no IRI of
this hub's own catalog); a file it refuses changes nothing, and the refusal is audited.
A dataset IRI already imported from another source is refused too, so one partner
cannot take over another's entries.

Remote datasets live in their own table: the catalog's reads and the rules' grants,
queries and extracts only ever look at the hub's own ``datasets``, so a remote dataset
can be found here (``list_remote_datasets``, by search) and never granted nor queried.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from passerelle.errors import ConflictError, NotFoundError, UsageError
from passerelle.hub.audit import append_event, authorize
from passerelle.hub.rules import Action, Principal
from passerelle.hub.tables import RemoteDataset
from passerelle.hub.views import (
    Column,
    Page,
    RemoteDatasetView,
    RemoteImportView,
    SkippedMemberView,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from passerelle.hub.dcat_import import RemoteCatalog
    from passerelle.hub.hub import Hub

__all__ = [
    "any_remote_datasets",
    "check_source",
    "forget_source",
    "import_catalog",
    "list_remote_datasets",
]

_SOURCE = re.compile(r"[a-z][a-z0-9_-]{0,62}")


def check_source(source: str) -> str:
    if not isinstance(source, str) or not _SOURCE.fullmatch(source):
        raise UsageError(
            f"invalid source name {source!r}: name the partner with 1-63 lowercase letters, "
            "digits, '_' or '-', starting with a letter"
        )
    return source


def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode("utf-8") if isinstance(text, str) else text).hexdigest()


def import_catalog(hub: Hub, actor: Principal, data: bytes, *, source: str) -> RemoteImportView:
    """Import a partner's catalog file as the remote datasets of ``source`` (stewards)."""
    from passerelle.hub.catalog_export import catalog_base
    from passerelle.hub.dcat_import import read_catalog

    check_source(source)
    digest = _sha(data)
    target = f"catalog:{source}"
    with hub.transaction() as session:
        details = {"source": source, "sha256": digest, "bytes": len(data)}
        authorize(hub, session, actor, Action.REMOTE_CATALOG_IMPORT, target, details)
    try:
        catalog = read_catalog(data, own_base=catalog_base(hub.config))
    except UsageError as exc:
        _refused(hub, actor, target, source, digest, str(exc))
        raise
    with hub.transaction() as session:
        taken = _taken_by_others(session, catalog, source)
        if taken:
            iri, owner = taken
            reason = (
                f"the dataset {iri} is already imported from {owner!r}; "
                f"`passerelle catalog forget {owner}` first if it moved"
            )
            _append_refusal(hub, session, actor, target, source, digest, reason)
            session.commit()
            raise ConflictError(reason)
        replaced = _replace(hub, session, actor, catalog, source, digest)
        append_event(
            hub,
            session,
            actor=actor.name,
            action="catalog.imported",
            target=target,
            decision="allowed",
            details={
                "source": source,
                "catalog": catalog.iri,
                "datasets": len(catalog.datasets),
                "skipped": len(catalog.skipped),
                "replaced": replaced,
                "sha256": digest,
            },
        )
    skipped = [SkippedMemberView(m.member, m.reason) for m in catalog.skipped]
    return RemoteImportView(source, catalog.iri, len(catalog.datasets), replaced, digest, skipped)


def _refused(
    hub: Hub, actor: Principal, target: str, source: str, digest: str, reason: str
) -> None:
    with hub.transaction() as session:
        _append_refusal(hub, session, actor, target, source, digest, reason)


def _append_refusal(
    hub: Hub,
    session: Session,
    actor: Principal,
    target: str,
    source: str,
    digest: str,
    reason: str,
) -> None:
    append_event(
        hub,
        session,
        actor=actor.name,
        action="catalog.imported",
        target=target,
        decision="denied",
        details={"source": source, "sha256": digest, "reason": reason},
    )


def _taken_by_others(
    session: Session, catalog: RemoteCatalog, source: str
) -> tuple[str, str] | None:
    from sqlalchemy import select

    by_hash = {_sha(r.iri): r.iri for r in catalog.datasets}
    hashes = sorted(by_hash)
    for start in range(0, len(hashes), 500):  # one IN (...) small enough for every database
        wanted = hashes[start : start + 500]
        rows = session.execute(
            select(RemoteDataset.iri_sha256, RemoteDataset.source)
            .where(RemoteDataset.iri_sha256.in_(wanted), RemoteDataset.source != source)
            .order_by(RemoteDataset.iri_sha256)
            .limit(1)
        ).first()
        if rows is not None:
            return by_hash[rows[0]], str(rows[1])
    return None


def _replace(
    hub: Hub,
    session: Session,
    actor: Principal,
    catalog: RemoteCatalog,
    source: str,
    digest: str,
) -> int:
    from sqlalchemy import delete

    removed = session.execute(delete(RemoteDataset).where(RemoteDataset.source == source))
    now = hub.now()
    for r in catalog.datasets:
        session.add(
            RemoteDataset(
                source=source,
                catalog_iri=catalog.iri,
                catalog_title=catalog.title,
                iri=r.iri,
                iri_sha256=_sha(r.iri),
                identifier=r.identifier,
                title=r.title,
                description=r.description,
                publisher=r.publisher,
                themes=list(r.themes),
                keywords=list(r.keywords),
                access_rights=r.access_rights,
                landing_page=r.landing_page,
                columns=[
                    {"name": c.name, "type": c.type, "description": c.description}
                    for c in r.columns
                ],
                distributions=r.distributions,
                file_sha256=digest,
                imported_at=now,
                imported_by=actor.user_id,
            )
        )
    session.flush()
    return int(getattr(removed, "rowcount", 0) or 0)


def any_remote_datasets(hub: Hub) -> bool:
    """Whether any partner's catalog was imported (no content read, so not audited): the
    portal's catalog page lists remote datasets, an audited read, only when there are."""
    from sqlalchemy import select

    with hub.db.read_one() as session:  # one statement: no BEGIN and COMMIT round trips
        return session.execute(select(RemoteDataset.id).limit(1)).first() is not None


def list_remote_datasets(
    hub: Hub,
    actor: Principal,
    *,
    search: str | None = None,
    source: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page[RemoteDatasetView]:
    """The remote datasets, by source then title; ``search`` keeps those whose title,
    description, identifier, publisher, keywords, source or catalog holds it (any case)."""
    from sqlalchemy import select

    needle = (search or "").strip().casefold()
    if source is not None:
        check_source(source)
    with hub.transaction() as session:
        details: dict[str, Any] = {}
        if needle:
            details["search"] = needle
        if source:
            details["source"] = source
        authorize(hub, session, actor, Action.REMOTE_CATALOG_READ, "catalog:remote", details)
        statement = select(RemoteDataset).order_by(
            RemoteDataset.source, RemoteDataset.title, RemoteDataset.id
        )
        if source:
            statement = statement.where(RemoteDataset.source == source)
        found = [r for (r,) in session.execute(statement) if _matches(r, needle)]
        page = found[offset : offset + limit]
        return Page([_view(r) for r in page], len(found), limit, offset)


def _matches(r: RemoteDataset, needle: str) -> bool:
    if not needle:
        return True
    texts = (r.title, r.description, r.identifier, r.publisher, r.source, r.catalog_title)
    return any(needle in t.casefold() for t in (*texts, *map(str, r.keywords)))


def _view(r: RemoteDataset) -> RemoteDatasetView:
    return RemoteDatasetView(
        r.id,
        r.source,
        r.catalog_iri,
        r.iri,
        r.identifier,
        r.title,
        r.description,
        r.publisher,
        [str(t) for t in r.themes],
        [str(k) for k in r.keywords],
        r.access_rights,
        r.landing_page,
        [Column(str(c["name"]), str(c["type"]), str(c["description"])) for c in r.columns],
        r.distributions,
        r.imported_at,
    )


def forget_source(hub: Hub, actor: Principal, source: str) -> int:
    """Remove every remote dataset ``source`` gave (stewards); how many were removed."""
    from sqlalchemy import delete

    check_source(source)
    target = f"catalog:{source}"
    with hub.transaction() as session:
        authorize(hub, session, actor, Action.REMOTE_CATALOG_IMPORT, target, {"forget": True})
        removed = session.execute(delete(RemoteDataset).where(RemoteDataset.source == source))
        count = int(getattr(removed, "rowcount", 0) or 0)
        if not count:
            session.commit()  # the decision stays audited
            raise NotFoundError(f"no remote datasets come from {source!r}; see catalog remote")
        append_event(
            hub,
            session,
            actor=actor.name,
            action="catalog.forgotten",
            target=target,
            decision="allowed",
            details={"source": source, "datasets": count},
        )
        return count
