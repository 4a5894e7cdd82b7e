"""Partner catalogs: export on one hub, import on another, found by search, never granted
nor queried; bad files and clashing partners change nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from passerelle import hub as H
from passerelle.errors import (
    ConflictError,
    NotFoundError,
    PasserelleError,
    PermissionDeniedError,
    UsageError,
)
from passerelle.hub import Hub
from passerelle.hub.catalog_export import export_catalog
from passerelle.hub.remote_catalog import forget_source, import_catalog, list_remote_datasets
from passerelle.hub.schema_revision import SCHEMA_REVISION
from passerelle.hub.tables import AuditEvent, RemoteDataset
from tests.databases import fresh_database
from tests.hub.conftest import Cast, approved_project, dataset


@pytest.fixture
def partner(db_kind: str, tmp_path: Path) -> Iterator[Hub]:
    """Another hub, at its own address, with two discoverable datasets and a hidden one."""
    with fresh_database(db_kind, tmp_path / "partner-db") as url:
        (tmp_path / "partner-db").mkdir(exist_ok=True)
        hub, issued = H.init_hub(
            tmp_path / "partner",
            database=url,
            name="partner",
            settings={"catalog_url": "https://partner.example.eu/", "catalog_country": "ITA"},
        )
        admin = H.authenticate(hub, issued.secret)
        H.create_user(hub, admin, "paola", ["steward"])
        paola = H.authenticate(hub, H.issue_token(hub, admin, user="paola").secret)
        H.create_organization(hub, paola, "OSP-MI", "Ospedale di Milano", "hospital")
        for name, text, visible in (
            ("ricoveri", "Ricoveri ospedalieri: hospital stays in Lombardy", True),
            ("farmaci", "Prescrizioni [/x] [bold]<b>", True),
            ("segreto", "not for partners", False),
        ):
            H.create_dataset(
                hub,
                paola,
                name=name,
                organization="OSP-MI",
                classification="health-pseudonymized",
                description=text,
                discoverable=visible,
                schema=[{"name": "eta", "type": "INTEGER", "description": "age"}],
            )
        yield hub
        hub.close()


def _count(hub: Hub) -> tuple[int, int]:
    with hub.db.read() as session:
        rows = session.execute(select(func.count(RemoteDataset.id))).scalar_one()
        events = session.execute(select(func.count(AuditEvent.seq))).scalar_one()
    return int(rows), int(events)


def test_a_partners_datasets_are_found_here_and_never_granted_or_queried(
    cast: Cast, partner: Hub
) -> None:
    from passerelle.workspace.queries import run_query

    export = export_catalog(partner, None, "turtle").encode()
    done = import_catalog(cast.hub, cast.steward, export, source="milano")
    assert (done.imported, done.replaced, done.catalog) == (
        2,
        0,
        "https://partner.example.eu/catalog",
    )
    found = list_remote_datasets(cast.hub, cast.alice, search="LOMBARDY")
    assert [d.identifier for d in found.items] == ["ricoveri"]
    entry = found.items[0]
    assert entry.remote and entry.source == "milano" and entry.publisher == "Ospedale di Milano"
    assert [c.name for c in entry.columns] == ["eta"]
    assert entry.landing_page == "https://partner.example.eu/portal/catalog/ricoveri"
    names = {d.identifier for d in list_remote_datasets(cast.hub, cast.bob).items}
    assert names == {"ricoveri", "farmaci"}  # the partner's hidden entry never left it

    assert "ricoveri" not in {d.name for d in H.list_datasets(cast.hub, cast.steward).items}
    project = approved_project(cast)
    with pytest.raises(NotFoundError):
        H.create_grant(cast.hub, cast.steward, project, "ricoveri")
    dataset(cast, "local_stays")
    H.create_grant(cast.hub, cast.steward, project, "local_stays")
    with pytest.raises(PasserelleError) as refused:
        run_query(cast.hub, cast.alice, project, "SELECT count(*) FROM ricoveri")
    assert "ricoveri" in str(refused.value)
    assert "ricoveri" not in export_catalog(cast.hub, cast.steward, "turtle")  # not re-exported


def test_importing_again_replaces_and_another_source_cannot_take_over(
    cast: Cast, partner: Hub
) -> None:
    export = export_catalog(partner, None, "jsonld").encode()
    import_catalog(cast.hub, cast.steward, export, source="milano")
    again = import_catalog(cast.hub, cast.steward2, export, source="milano")
    assert (again.imported, again.replaced) == (2, 2)
    before = _count(cast.hub)
    with pytest.raises(ConflictError, match="already imported from 'milano'"):
        import_catalog(cast.hub, cast.steward, export, source="impostor")
    rows, events = _count(cast.hub)
    assert rows == before[0] and events == before[1] + 2  # the decision and the refusal
    assert {d.source for d in list_remote_datasets(cast.hub, cast.alice).items} == {"milano"}
    assert forget_source(cast.hub, cast.steward, "milano") == 2
    assert list_remote_datasets(cast.hub, cast.alice).total == 0
    with pytest.raises(NotFoundError, match="milano"):
        forget_source(cast.hub, cast.steward, "milano")


def test_a_refused_file_changes_nothing_and_is_audited(cast: Cast, partner: Hub) -> None:
    import_catalog(
        cast.hub, cast.steward, export_catalog(partner, None, "turtle").encode(), source="milano"
    )
    before = _count(cast.hub)
    bad = b'{"@context": "http://127.0.0.1:9/ctx", "@id": "https://x.eu/c"}'
    with pytest.raises(UsageError, match="fetches nothing"):
        import_catalog(cast.hub, cast.steward, bad, source="milano")
    assert _count(cast.hub) == (before[0], before[1] + 2)
    with cast.hub.db.read() as session:
        newest = session.execute(
            select(AuditEvent.action, AuditEvent.decision).order_by(AuditEvent.seq.desc()).limit(1)
        ).one()
    assert tuple(newest) == ("catalog.imported", "denied")
    assert list_remote_datasets(cast.hub, cast.alice).total == 2


def test_this_hubs_own_export_is_refused_as_a_partners(cast: Cast) -> None:
    dataset(cast, "local_stays")
    own = export_catalog(cast.hub, None, "jsonld").encode()
    with pytest.raises(UsageError, match="this hub's own"):
        import_catalog(cast.hub, cast.steward, own, source="myself")


@pytest.mark.parametrize("who", ["alice", "checker", "auditor", "admin", "operator"])
def test_only_stewards_import_and_forget(cast: Cast, partner: Hub, who: str) -> None:
    export = export_catalog(partner, None, "turtle").encode()
    actor = getattr(cast, who)
    with pytest.raises(PermissionDeniedError):
        import_catalog(cast.hub, actor, export, source="milano")
    with pytest.raises(PermissionDeniedError):
        forget_source(cast.hub, actor, "milano")


def test_auditors_do_not_read_remote_datasets(cast: Cast) -> None:
    with pytest.raises(PermissionDeniedError):
        list_remote_datasets(cast.hub, cast.auditor)


@pytest.mark.parametrize("source", ["", "Milano", "a/b", "milano\n", "x" * 64, "-lead"])
def test_a_source_name_is_checked(cast: Cast, source: str) -> None:
    with pytest.raises(UsageError, match="source name"):
        import_catalog(cast.hub, cast.steward, b"{}", source=source)


def test_revision_0012_adds_and_removes_the_remote_datasets_table(cast: Cast, partner: Hub) -> None:
    from sqlalchemy import inspect

    import_catalog(
        cast.hub, cast.steward, export_catalog(partner, None, "turtle").encode(), source="milano"
    )
    cast.hub.db.downgrade("0011")
    assert "remote_datasets" not in inspect(cast.hub.db.engine).get_table_names()
    cast.hub.db.upgrade()
    assert cast.hub.db.revision() == SCHEMA_REVISION
    assert "remote_datasets" in inspect(cast.hub.db.engine).get_table_names()
    assert list_remote_datasets(cast.hub, cast.alice).total == 0
