"""A steward's version files, a landing area's hard links: more ways out of the store.

Played by a steward with a valid account (and a colluding researcher of another
project) on SQLite and PostgreSQL, after the attacks of
``tests/hub/test_containment.py`` were refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

from passerelle import hub as H
from passerelle.errors import NotFoundError, PermissionDeniedError, UsageError
from passerelle.hub.views import DatasetFile
from passerelle.workspace import run_query
from tests.hub.conftest import Cast, approved_project
from tests.workspace.test_queries import publish

ORG = "750712184"


def _another_projects_result(cast: Cast) -> str:
    """Project 1 (alice) keeps a row-level result; its key in the hub's store."""
    publish(cast, "stays", pa.table({"pseudonym": ["p1", "p2"], "dept": ["75", "13"]}))
    first = approved_project(cast)
    H.create_grant(cast.hub, cast.steward, first, "stays")
    view, _ = run_query(cast.hub, cast.alice, first, "SELECT pseudonym, dept FROM stays")
    return view.result_key


def test_a_version_cannot_point_at_another_projects_workspace(cast: Cast) -> None:
    """A steward registers project 1's stored result (or extract) as a dataset's file and
    grants it to project 2: its researchers would read project 1's rows, keyed for it."""
    stolen = _another_projects_result(cast)
    H.create_dataset(
        cast.hub, cast.steward, name="innocent", organization=ORG, classification="reference"
    )
    for key in (
        stolen,
        "workspaces/project-1/extracts/stays/part-00000.parquet",
        "releases/project-1/1/table.csv",
        "test-hub/audit-checkpoints/1.json",
        "cache/x.parquet",
    ):
        with pytest.raises(UsageError, match="datasets/"):
            H.add_version(
                cast.hub,
                cast.steward,
                "innocent",
                digest="d" * 64,
                schema=[{"name": "pseudonym", "type": "VARCHAR"}],
                row_count=2,
                files=[DatasetFile(key, 1, "a" * 64, 2)],
            )
    assert H.list_versions(cast.hub, cast.steward, "innocent") == []


def test_a_hard_link_in_the_landing_area_is_refused(cast: Cast, tmp_path: Path) -> None:
    """A hard link has no "real path" elsewhere: it *is* the other hospital's file (or the
    hub's key file) under a landing name. Files with more than one name are refused."""
    from tests.hub.test_landing import _ingest, _only_landing

    landing, secret = tmp_path / "landing", tmp_path / "secret"
    landing.mkdir()
    secret.mkdir()
    (secret / "other-hospital.csv").write_text("nir,dept\n1850775123456,75\n")
    os.link(secret / "other-hospital.csv", landing / "stays.csv")
    (landing / "fhir").mkdir()
    os.link(secret / "other-hospital.csv", landing / "fhir" / "Patient.ndjson")
    _only_landing(cast, landing)
    for url, schema, name in (
        (f"file://{landing}/stays.csv", "pmsi_stays", "pmsi_stays"),
        (f"file://{landing}/fhir", "fhir_bulk", "fhir"),
    ):
        with pytest.raises(PermissionDeniedError, match="hard link"):
            _ingest(cast, url, schema, name=name)
    assert list(cast.hub.store().list()) == []


@pytest.mark.parametrize(
    "trick",
    ["sibling", "sibling-no-slash", "file-localhost", "percent-dotdot", "double-slash-dotdot"],
)
def test_landing_prefix_tricks_are_refused(cast: Cast, tmp_path: Path, trick: str) -> None:
    """``/landing-evil`` is not under ``/landing``; ``file://localhost/...``, ``%2e%2e`` and
    ``//..`` do not reach outside either."""
    from tests.hub.test_landing import _ingest

    landing, evil = tmp_path / "landing", tmp_path / "landing-evil"
    landing.mkdir()
    evil.mkdir()
    (evil / "stays.csv").write_text("x\n1\n")
    (landing / "%2e%2e").mkdir()
    import dataclasses

    prefix = f"file://{landing}" if trick == "sibling-no-slash" else f"file://{landing}/"
    cast.hub.config = dataclasses.replace(cast.hub.config, ingest_sources=(prefix,))
    url = {
        "sibling": f"file://{evil}/stays.csv",
        "sibling-no-slash": f"{evil}/stays.csv",
        "file-localhost": f"file://localhost{evil}/stays.csv",
        "percent-dotdot": f"file://{landing}/%2e%2e/../landing-evil/stays.csv",
        "double-slash-dotdot": f"file://{landing}//../landing-evil/stays.csv",
    }[trick]
    with pytest.raises((PermissionDeniedError, UsageError, NotFoundError)):
        _ingest(cast, url)
    assert list(cast.hub.store().list()) == []


LOOKALIKES = {
    "cyrillic-a": "pmsi_st\u0430ys",  # looks like pmsi_stays
    "zero-width": "pmsi\u200b_stays",
    "nfd-accent": "donne\u0301es",
    "nfc-accent": "donn\u00e9es",
    "fullwidth": "\uff50msi_stays",
    "dotless-i": "pms\u0131_stays",  # lowercases to ASCII in some locales
    "kelvin-k": "\u212a_stays",  # casefolds to 'k'
    "turkish-capital-i": "\u0130msi",  # lowercases to 'i̇'
}


@pytest.mark.parametrize("trick", sorted(LOOKALIKES))
def test_lookalike_names_are_refused_everywhere(cast: Cast, trick: str) -> None:
    """Names that display like (or fold to) another one: a second 'pmsi_stays' a steward
    could grant in its place, a user 'alice' impersonated in the audit trail."""
    name = LOOKALIKES[trick]
    H.create_dataset(
        cast.hub, cast.steward, name="pmsi_stays", organization=ORG, classification="reference"
    )
    with pytest.raises(UsageError):
        H.create_dataset(
            cast.hub, cast.steward, name=name, organization=ORG, classification="reference"
        )
    with pytest.raises(UsageError):
        H.create_user(cast.hub, cast.admin, name.replace("pmsi_stays", "alice"), "researcher")
    from passerelle.hub.ingestion import ingest_dataset

    with pytest.raises(UsageError):
        ingest_dataset(
            cast.hub,
            cast.steward,
            dataset=name,
            organization=ORG,
            source_url="file:///nonexistent.csv",
            schema="pmsi_stays",
        )
    assert [d.name for d in H.list_datasets(cast.hub, cast.steward).items] == ["pmsi_stays"]


def test_a_nir_as_a_column_name_is_kept_nowhere(cast: Cast, tmp_path: Path) -> None:
    """A source whose header carries a NIR (an extra column named by it): refused before
    anything is written, and neither the database nor the store keeps the name."""
    from passerelle.errors import SchemaMismatchError
    from passerelle.hub.ingestion import ingest_dataset
    from passerelle.ingest.nir import with_key
    from passerelle.synth import synthesize

    nir = with_key("1850575123456")
    synthesize(tmp_path / "src", persons=20, seed=5, defect_rate=0.0, fhir_fraction=0.0)
    lines = (tmp_path / "src" / "stays.csv").read_text().splitlines()
    crafted = tmp_path / "crafted.csv"
    crafted.write_text("\n".join([f"{lines[0]},{nir}", *(f"{x},1" for x in lines[1:])]) + "\n")
    with pytest.raises(SchemaMismatchError, match="undeclared"):
        ingest_dataset(
            cast.hub,
            cast.steward,
            dataset="pmsi_stays",
            organization=ORG,
            source_url=f"file://{crafted}",
            schema="pmsi_stays",
        )
    assert list(cast.hub.store().list()) == []
    from sqlalchemy import MetaData

    meta = MetaData()
    meta.reflect(cast.hub.db.engine)
    with cast.hub.db.engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(table.select()):
                assert nir not in str(tuple(row)), table.name


def test_a_deep_or_huge_landing_folder_is_one_sentence(
    cast: Cast, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Folders nested past Python's recursion limit crashed the pinning (a traceback, 500
    through the API); more files than descriptors the server may hold were refused as
    "a symbolic link" after starving the process of descriptors."""
    from passerelle.errors import LimitExceededError
    from passerelle.hub import landing
    from tests.hub.test_landing import _ingest, _only_landing

    area = tmp_path / "landing"
    deep = area / "deep"
    deep.mkdir(parents=True)
    fd = os.open(deep, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(100):  # one level at a time
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)
    many = area / "many"
    many.mkdir()
    for i in range(40):
        (many / f"Patient-{i}.ndjson").write_text("{}\n")
    _only_landing(cast, area)
    with pytest.raises(PermissionDeniedError, match="nested more than"):
        _ingest(cast, f"file://{deep}", "fhir_bulk", name="fhir")
    monkeypatch.setattr(landing, "_fd_budget", lambda: 16)
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(LimitExceededError, match="open at once"):
        _ingest(cast, f"file://{many}", "fhir_bulk", name="fhir")
    assert len(os.listdir("/proc/self/fd")) <= before  # every descriptor given back
    assert list(cast.hub.store().list()) == []
