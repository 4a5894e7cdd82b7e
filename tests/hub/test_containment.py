"""A steward's crafted names cannot write outside the hub, into a project, or into the audit.

The three attacks that got through (issue 11, section 2), played through the
library and the CLI on SQLite and PostgreSQL (the API plays them in
``tests/api/test_containment_api.py``), then the neighbouring tricks: names the
hub derives for itself, schema table names, catalog entries another ingest made,
version files that climb, hub names that shadow the hub's own folders.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from passerelle import hub as H
from passerelle.errors import ConfigError, ConflictError, UsageError
from passerelle.hub.ingestion import extract_dataset, ingest_dataset
from passerelle.hub.views import DatasetFile
from passerelle.synth import synthesize
from tests.cli.test_storage_commands import assert_one_sentence, run_cli
from tests.hub.conftest import Cast, approved_project

ORG = "750712184"
ATTACKS = {
    "outside-the-hub": "../../outside",
    "a-projects-extract": "../workspaces/project-1/extracts/pmsi_stays",
    "the-audit-checkpoints": "../test-hub/audit-checkpoints",
    "the-audit-folder": "../test-hub/audit",
}
MORE_NAMES = [
    "x/../../y",
    "..",
    "a\\b",
    "/abs",
    "pmsi\n",
    "pmsi\x00",
    "Pmsi",
    "pmsi_stays_quarantine",
    "p" * 64,
    "pmsi\u202e",
]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synthesize(out, persons=80, seed=11, defect_rate=0.05, fhir_fraction=0.5)
    return out


def _tree(root: Path) -> dict[str, str]:
    """Every file below ``root`` with its SHA-256 (the audit database excluded: it grows)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith("hub.db")
    }


def _victims(cast: Cast, sources: Path) -> int:
    """A real dataset, a project with its extract, and an audit checkpoint to attack."""
    ingest_dataset(
        cast.hub,
        cast.steward,
        dataset="pmsi_stays",
        organization=ORG,
        source_url=f"file://{sources}/stays.csv",
        schema="pmsi_stays",
    )
    pid = approved_project(cast)
    assert pid == 1  # the attack names project-1
    H.create_grant(cast.hub, cast.steward, pid, "pmsi_stays")
    extract_dataset(cast.hub, cast.steward, pid, "pmsi_stays")
    H.write_checkpoint(cast.hub)
    return pid


def _assert_untouched(cast: Cast, root: Path, before: dict[str, str]) -> None:
    after = _tree(root)
    assert {path: after.get(path) for path in before} == before  # nothing replaced or removed
    checkpoint_folders = {p.rsplit("/", 1)[0] for p in before if "checkpoint" in p}
    added = {p.rsplit("/", 1)[0] for p in set(after) - set(before)}
    assert added <= checkpoint_folders  # nothing added but the hub's own next checkpoint
    assert cast.hub.store().head(
        "workspaces/project-1/extracts/pmsi_stays/pmsi_stays/00000/part-00000.parquet"
    )
    assert any("checkpoint" in path for path in before)  # there was one to break
    assert H.verify_audit(cast.hub, cast.auditor).ok


@pytest.mark.parametrize("name", list(ATTACKS.values()), ids=list(ATTACKS))
def test_the_three_attacks_write_nothing_through_the_library(
    cast: Cast, sources: Path, tmp_path: Path, name: str
) -> None:
    _victims(cast, sources)
    before = _tree(tmp_path)
    datasets = {d.name for d in H.list_datasets(cast.hub, cast.steward).items}
    with pytest.raises(UsageError, match="invalid dataset name"):
        ingest_dataset(
            cast.hub,
            cast.steward,
            dataset=name,
            organization=ORG,
            source_url=f"file://{sources}/stays.csv",
            schema="pmsi_stays",
        )
    _assert_untouched(cast, tmp_path, before)
    assert {d.name for d in H.list_datasets(cast.hub, cast.steward).items} == datasets
    assert not (tmp_path / "outside").exists()


def test_the_three_attacks_write_nothing_through_the_cli(
    cast: Cast, sources: Path, tmp_path: Path
) -> None:
    _victims(cast, sources)
    before = _tree(tmp_path)
    from passerelle.hub.tables import utcnow

    cast.hub.clock = utcnow  # the CLI runs on the real clock: its token must be valid now
    token = H.issue_token(cast.hub, cast.admin, user="steward").secret
    env = {"PASSERELLE_HUB": str(cast.hub.config.directory), "PASSERELLE_TOKEN": token}
    for name in (*ATTACKS.values(), "pmsi\n", "pmsi_stays_quarantine"):
        proc = run_cli(
            "ingest",
            f"file://{sources}/stays.csv",
            "--org",
            ORG,
            "--dataset",
            name,
            "--schema",
            "pmsi_stays",
            env=env,
        )
        assert_one_sentence(proc, "dataset name")
    _assert_untouched(cast, tmp_path, before)


@pytest.mark.parametrize("name", MORE_NAMES, ids=range(len(MORE_NAMES)))
def test_every_other_crafted_name_is_refused_before_any_write(
    cast: Cast, sources: Path, tmp_path: Path, name: str
) -> None:
    before = _tree(tmp_path)
    with pytest.raises(UsageError, match="dataset name"):
        ingest_dataset(
            cast.hub,
            cast.steward,
            dataset=name,
            organization=ORG,
            source_url=f"file://{sources}/stays.csv",
            schema="pmsi_stays",
        )
    with pytest.raises(UsageError, match="dataset name"):
        H.create_dataset(
            cast.hub, cast.steward, name=name, organization=ORG, classification="reference"
        )
    assert _tree(tmp_path) == before
    assert H.list_datasets(cast.hub, cast.steward).total == 0


def test_a_derived_name_cannot_take_over_another_entry(cast: Cast, sources: Path) -> None:
    """A FHIR ingest of 'fhir' registers 'fhir_patient': it may not add rows to an entry
    of that name that was ingested as itself (whose grants would then reach them)."""
    ingest_dataset(
        cast.hub,
        cast.steward,
        dataset="fhir_patient",
        organization=ORG,
        source_url=f"file://{sources}/stays.csv",
        schema="pmsi_stays",
    )
    before = [i.key for i in cast.hub.store().list()]
    with pytest.raises(ConflictError, match="'fhir_patient' that was not ingested as 'fhir'"):
        ingest_dataset(
            cast.hub,
            cast.steward,
            dataset="fhir",
            organization=ORG,
            source_url=f"file://{sources}/fhir",
            schema="fhir_bulk",
        )
    assert [i.key for i in cast.hub.store().list()] == before  # refused before writing
    assert [v.version for v in H.list_versions(cast.hub, cast.steward, "fhir_patient")] == [1]
    again = ingest_dataset(  # the entry's own ingest still adds to it
        cast.hub,
        cast.steward,
        dataset="fhir_patient",
        organization=ORG,
        source_url=f"file://{sources}/stays.csv",
        schema="pmsi_stays",
    )
    assert again.reused


def test_a_schema_table_name_cannot_climb(cast: Cast, sources: Path, tmp_path: Path) -> None:
    shipped = Path(H.__file__).parents[1] / "ingest" / "schemas" / "fhir_bulk.toml"
    text = shipped.read_text(encoding="utf-8")
    first_view = text.split('name = "', 2)[2].split('"', 1)[0]  # after [dataset] name
    for bad in ("../../../outside", "patient_quarantine", "Patient", "a/b"):
        schema = tmp_path / "evil.toml"
        schema.write_text(text.replace(f'name = "{first_view}"', f'name = "{bad}"', 1))
        with pytest.raises(ConfigError, match="table name"):
            ingest_dataset(
                cast.hub,
                cast.steward,
                dataset="fhir",
                organization=ORG,
                source_url=f"file://{sources}/fhir",
                schema=schema,
            )
    assert [i.key for i in cast.hub.store().list()] == []


def test_version_files_cannot_point_outside_the_store(cast: Cast) -> None:
    H.create_dataset(
        cast.hub, cast.steward, name="pmsi_stays", organization=ORG, classification="reference"
    )
    for url in ("../../etc/passwd", "datasets/x/../../../y", "/etc/passwd", "a\\b", "x\n"):
        with pytest.raises(UsageError):
            H.add_version(
                cast.hub,
                cast.steward,
                "pmsi_stays",
                digest="d" * 64,
                schema=[{"name": "x", "type": "VARCHAR"}],
                row_count=1,
                files=[DatasetFile(url, 1, "a" * 64, 1)],
            )
    assert H.list_versions(cast.hub, cast.steward, "pmsi_stays") == []


@pytest.mark.parametrize("prefix", ["../x", "datasets/../../x", "/abs", "a//b", "a\\b"])
def test_the_hubs_sub_stores_cannot_climb(cast: Cast, prefix: str) -> None:
    with pytest.raises(UsageError, match="store prefix"):
        cast.hub.store_at(prefix)


@pytest.mark.parametrize("name", ["datasets", "workspaces", "../x", "Hub", "a/b", "hub\n"])
def test_a_hub_cannot_be_named_to_shadow_its_folders(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="hub"):
        H.init_hub(tmp_path / "h", name=name)
    assert not (tmp_path / "h" / "hub.toml").exists()


@pytest.mark.parametrize("name", ["alice\n", "al/ice", "../admin"])
def test_user_and_organization_names_are_matched_whole(cast: Cast, name: str) -> None:
    with pytest.raises(UsageError):
        H.create_user(cast.hub, cast.admin, name, "researcher")
    with pytest.raises(UsageError):
        H.create_organization(cast.hub, cast.steward, name, "x", "hospital")
