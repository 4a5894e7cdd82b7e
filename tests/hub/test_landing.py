"""``ingest_sources`` holds against real symbolic links, ``..`` and links swapped in later.

Library on SQLite and PostgreSQL, the CLI, and the API; every link here is a real one.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from passerelle import hub as H
from passerelle.errors import PermissionDeniedError
from passerelle.hub.ingestion import ingest_dataset
from passerelle.hub.landing import _open_below, landing_allows, pin_source
from passerelle.storage import open_store
from passerelle.synth import synthesize
from tests.cli.test_storage_commands import assert_one_sentence, run_cli
from tests.hub.conftest import Cast

ORG = "750712184"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synthesize(out, persons=60, seed=13, defect_rate=0.05, fhir_fraction=0.5)
    return out


@pytest.fixture
def areas(tmp_path: Path, sources: Path) -> tuple[Path, Path]:
    """A landing area with one real extract, and a secret folder outside it."""
    landing, secret = tmp_path / "landing", tmp_path / "secret"
    landing.mkdir()
    secret.mkdir()
    shutil.copy(sources / "stays.csv", landing / "stays.csv")
    shutil.copy(sources / "stays.csv", secret / "other-hospital.csv")
    shutil.copytree(sources / "fhir", secret / "fhir")
    return landing, secret


def _only_landing(cast: Cast, landing: Path) -> None:
    cast.hub.config = dataclasses.replace(cast.hub.config, ingest_sources=(f"file://{landing}/",))


def _ingest(cast: Cast, url: str, schema: str = "pmsi_stays", name: str = "pmsi_stays") -> object:
    return ingest_dataset(
        cast.hub, cast.steward, dataset=name, organization=ORG, source_url=url, schema=schema
    )


_TRICK_NAMES = ("file-link", "dir-link", "dotdot", "plain-path-dotdot", "fhir-folder-of-links")


def _tricks(landing: Path, secret: Path) -> dict[str, str]:
    (landing / "link.csv").symlink_to(secret / "other-hospital.csv")
    (landing / "linked-dir").symlink_to(secret, target_is_directory=True)
    (landing / "fhir").mkdir()
    for f in (secret / "fhir").iterdir():
        (landing / "fhir" / f.name).symlink_to(f)
    return {
        "file-link": f"file://{landing}/link.csv",
        "dir-link": f"file://{landing}/linked-dir/other-hospital.csv",
        "dotdot": f"file://{landing}/../secret/other-hospital.csv",
        "plain-path-dotdot": f"{landing}/../secret/other-hospital.csv",
        "fhir-folder-of-links": f"file://{landing}/fhir",
    }


def test_links_and_dotdot_out_of_the_landing_area_are_refused(
    cast: Cast, areas: tuple[Path, Path]
) -> None:
    landing, secret = areas
    _only_landing(cast, landing)
    for trick, url in _tricks(landing, secret).items():
        schema = "fhir_bulk" if trick.startswith("fhir") else "pmsi_stays"
        with pytest.raises(PermissionDeniedError) as refused:
            _ingest(cast, url, schema, name="fhir" if schema == "fhir_bulk" else "pmsi_stays")
        assert "ingest_sources" in str(refused.value) or "symbolic link" in str(refused.value)
    assert list(cast.hub.store().list()) == []
    assert H.list_datasets(cast.hub, cast.steward).total == 0
    from sqlalchemy import func, select

    from passerelle.hub.tables import AuditEvent

    with cast.hub.db.read() as session:
        denials = session.execute(
            select(func.count(AuditEvent.seq)).where(
                AuditEvent.action == "ingest.run", AuditEvent.decision == "denied"
            )
        ).scalar_one()
    assert denials == len(_TRICK_NAMES)  # every refusal is audited


def test_a_real_file_and_a_linked_landing_root_are_allowed(
    cast: Cast, areas: tuple[Path, Path], tmp_path: Path
) -> None:
    landing, _ = areas
    alias = tmp_path / "landing-alias"
    alias.symlink_to(landing, target_is_directory=True)
    cast.hub.config = dataclasses.replace(cast.hub.config, ingest_sources=(f"file://{alias}",))
    report = _ingest(cast, f"file://{landing}/stays.csv")
    assert report.rows_accepted > 0  # type: ignore[attr-defined]
    entry = H.get_dataset(cast.hub, cast.steward, "pmsi_stays")
    assert str(landing) in entry.description  # the steward's path, not the pinned one


def test_the_real_paths_are_compared() -> None:
    assert landing_allows((), "file:///anything")
    assert not landing_allows(("file:///nonexistent-root/",), "file:///etc/hostname")


def test_a_link_swapped_in_after_the_check_is_not_followed(areas: tuple[Path, Path]) -> None:
    landing, secret = areas
    original = (landing / "stays.csv").read_bytes()
    pinned = pin_source(f"file://{landing}/stays.csv")
    try:
        (landing / "stays.csv").rename(landing / "moved.csv")
        (landing / "stays.csv").symlink_to(secret / "fhir" / sorted(os.listdir(secret / "fhir"))[0])
        parent, _, name = pinned.url.rpartition("/")
        assert open_store(parent).get(name).read() == original  # what was checked is read
    finally:
        pinned.close()
    assert not Path(pinned.url.removeprefix("file://")).exists()  # the private links are gone


def test_a_component_swapped_for_a_link_is_refused(areas: tuple[Path, Path]) -> None:
    landing, secret = areas
    (landing / "sub").symlink_to(secret, target_is_directory=True)
    with pytest.raises(PermissionDeniedError, match="symbolic link"):
        _open_below(f"{landing}/sub/other-hospital.csv", "the source")
    with pytest.raises(PermissionDeniedError, match="symbolic link"):
        _open_below(f"{landing}/link-that-is-not-there", "the source")


def test_a_folder_with_a_link_inside_is_refused(areas: tuple[Path, Path]) -> None:
    landing, secret = areas
    folder = landing / "export"
    shutil.copytree(secret / "fhir", folder)
    (folder / "Extra.ndjson").symlink_to(secret / "other-hospital.csv")
    with pytest.raises(PermissionDeniedError, match="symbolic link"):
        pin_source(f"file://{folder}")
    (folder / "Extra.ndjson").unlink()
    pinned = pin_source(f"file://{folder}")
    try:
        names = sorted(i.key for i in open_store(pinned.url).list())
        assert names == sorted(os.listdir(folder))
    finally:
        pinned.close()


def test_the_cli_refuses_a_link_in_one_sentence(
    cast: Cast, areas: tuple[Path, Path], tmp_path: Path
) -> None:
    from passerelle.hub.tables import utcnow

    landing, secret = areas
    tricks = _tricks(landing, secret)
    config = cast.hub.config.directory / "hub.toml"
    text = config.read_text()
    config.write_text(text.rstrip("\n") + f'\ningest_sources = ["file://{landing}/"]\n')
    cast.hub.clock = utcnow  # the CLI runs on the real clock: its token must be valid now
    token = H.issue_token(cast.hub, cast.admin, user="steward").secret
    env = {"PASSERELLE_HUB": str(cast.hub.config.directory), "PASSERELLE_TOKEN": token}
    for url in (tricks["file-link"], tricks["dir-link"], tricks["dotdot"]):
        proc = run_cli(
            "ingest",
            url,
            "--org",
            ORG,
            "--dataset",
            "pmsi_stays",
            "--schema",
            "pmsi_stays",
            env=env,
        )
        assert_one_sentence(proc, "ingest_sources")
    ok = run_cli(
        "ingest",
        f"file://{landing}/stays.csv",
        "--org",
        ORG,
        "--dataset",
        "pmsi_stays",
        "--schema",
        "pmsi_stays",
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
