"""Quarantines as a steward and a researcher type commands: never granted, never read."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from passerelle.hub import Hub
from passerelle.hub.tables import Dataset, Grant
from tests.cli.test_storage_commands import assert_one_sentence, run_cli
from tests.databases import DATABASES, fresh_database

QUARANTINE = "pmsi_stays_quarantine"


@pytest.mark.parametrize("db_kind", DATABASES)
def test_grant_and_query_of_a_quarantine_are_refused(db_kind: str, tmp_path: Path) -> None:
    with fresh_database(db_kind, tmp_path) as url:
        _play(url, tmp_path)


def _play(database: str, tmp_path: Path) -> None:
    hub_dir = str(tmp_path / "hub")
    incoming = tmp_path / "incoming"
    made = run_cli(
        "synth", "--persons", "150", "--seed", "9", "--out", str(incoming), "--defect-rate", "0.05"
    )
    assert made.returncode == 0, made.stderr
    admin = (
        run_cli("init", "--hub", hub_dir, "--database", database).stdout.strip().splitlines()[-1]
    )

    def as_(token: str, *args: str) -> object:
        return run_cli(*args, env={"PASSERELLE_HUB": hub_dir, "PASSERELLE_TOKEN": token})

    def ok(token: str, *args: str) -> str:
        proc = as_(token, *args)
        assert proc.returncode == 0, proc.stderr  # type: ignore[attr-defined]
        return str(proc.stdout)  # type: ignore[attr-defined]

    tokens = {}
    for name, roles in (("claire", "steward"), ("rita", "researcher")):
        ok(admin, "users", "add", name, "--roles", roles)
        tokens[name] = ok(admin, "tokens", "create", "--user", name).strip()
    claire, rita = tokens["claire"], tokens["rita"]
    ok(claire, "orgs", "add", "750712184", "--name", "AP-HP", "--kind", "hospital")
    stays = f"file://{incoming / 'stays.csv'}"
    ok(
        claire,
        "ingest",
        stays,
        "--org",
        "750712184",
        "--dataset",
        "pmsi_stays",
        "--schema",
        "pmsi_stays",
    )
    ok(
        rita,
        "projects",
        "submit",
        "--title",
        "Stays",
        "--purpose",
        "Counts",
        "--legal-basis",
        "MR-004",
        "--authorization",
        "CNIL-1",
        "--start",
        "2026-01-01",
        "--end",
        "2030-12-31",
    )
    ok(claire, "projects", "approve", "1")
    ok(claire, "grants", "add", "1", "pmsi_stays")
    assert QUARANTINE in ok(claire, "datasets", "show", QUARANTINE)
    assert_one_sentence(as_(claire, "grants", "add", "1", QUARANTINE), "never granted")  # type: ignore[arg-type]

    hub = Hub.open(Path(hub_dir))  # an old hub's grant, made before the rule
    try:
        with hub.transaction() as session:
            d = session.execute(select(Dataset).where(Dataset.name == QUARANTINE)).scalar_one()
            session.add(
                Grant(
                    project_id=1,
                    dataset_id=d.id,
                    columns=None,
                    granted_by=2,
                    granted_at=hub.now(),
                    expires_on=hub.now().date(),
                    revoked_at=None,
                    revoked_by=None,
                )
            )
    finally:
        hub.close()
    refused = as_(rita, "query", "--project", "1", f"SELECT * FROM {QUARANTINE}")
    assert_one_sentence(refused)  # type: ignore[arg-type]
    assert "_reason" not in refused.stdout  # type: ignore[attr-defined]
    assert "n" in ok(rita, "query", "--project", "1", "SELECT count(*) AS n FROM pmsi_stays")
    assert_one_sentence(as_(rita, "datasets", "show", QUARANTINE))  # type: ignore[arg-type]
