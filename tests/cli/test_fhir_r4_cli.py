"""A steward ingests the published HL7 R4 examples with ``passerelle ingest``: counts by reason."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_storage_commands import run_cli
from tests.databases import fresh_database
from tests.ingest.fhir_export import r4_examples, write_export


def test_a_steward_ingests_the_r4_examples_and_reads_why_three_were_refused(
    tmp_path: Path,
) -> None:
    src = write_export(tmp_path / "export", r4_examples())
    hub_dir = str(tmp_path / "hub")
    with fresh_database("sqlite", tmp_path) as database:
        init = run_cli("init", "--hub", hub_dir, "--database", database)
        admin = init.stdout.strip().splitlines()[-1]

        def ok(token: str, *args: str) -> str:
            proc = run_cli(*args, env={"PASSERELLE_HUB": hub_dir, "PASSERELLE_TOKEN": token})
            assert proc.returncode == 0, proc.stderr
            return str(proc.stdout)

        ok(admin, "users", "add", "claire", "--roles", "steward")
        claire = ok(admin, "tokens", "create", "--user", "claire").strip()
        ok(claire, "orgs", "add", "750712184", "--name", "AP-HP", "--kind", "hospital")
        out = ok(
            claire,
            "ingest",
            f"file://{src}",
            "--org",
            "750712184",
            "--dataset",
            "r4",
            "--schema",
            "fhir_bulk",
        )
    assert "rows in 15 = accepted 12 + quarantined 3" in out
    assert "quarantined: 1 x missing:code" in out
    assert "quarantined: 2 x unknown-patient:subject" in out
    for table in ("r4_condition", "r4_observation", "r4_procedure", "r4_medication_request"):
        assert f"catalog: {table} v1" in out
