"""Issues 5 and 6 as a new user types them: synth, three ingests, a query, a checked release."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.cli.test_storage_commands import assert_one_sentence, run_cli

AGE_SQL = (
    "SELECT postcode AS departement, CASE WHEN CAST(substr(birth_date, 1, 4) AS INTEGER) > 1980 "
    "THEN 'under 45' ELSE '45+' END AS age_group, count(*) AS n_stays, "
    "count(DISTINCT person_id) AS n_persons FROM pmsi_stays GROUP BY 1, 2 ORDER BY 1, 2"
)


def test_synth_ingest_query_release(tmp_path: Path) -> None:
    hub = str(tmp_path / "hub")
    incoming = tmp_path / "incoming"
    synth = run_cli(
        "synth", "--persons", "1500", "--seed", "5", "--out", str(incoming), "--defect-rate", "0.02"
    )
    assert synth.returncode == 0, synth.stderr
    admin = run_cli("init", "--hub", hub).stdout.strip().splitlines()[-1]
    env = {"PASSERELLE_HUB": hub}

    def cli(token: str, *args: str) -> str:
        proc = run_cli(*args, env={**env, "PASSERELLE_TOKEN": token})
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    tokens = {}
    for name, roles in (("claire", "steward"), ("rita", "researcher"), ("oscar", "output-checker")):
        cli(admin, "users", "add", name, "--roles", roles)
        tokens[name] = cli(admin, "tokens", "create", "--user", name).strip()
    claire, rita, oscar = tokens["claire"], tokens["rita"], tokens["oscar"]
    cli(claire, "orgs", "add", "750712184", "--name", "AP-HP", "--kind", "hospital")
    quarantined = 0
    for dataset, source, schema in (
        ("pmsi_stays", incoming / "stays.csv", "pmsi_stays"),
        ("dcir_claims", incoming / "claims.parquet", "dcir_claims"),
        ("fhir", incoming / "fhir", "fhir_bulk"),
    ):
        report = json.loads(
            cli(
                claire,
                "ingest",
                f"file://{source}",
                "--org",
                "750712184",
                "--dataset",
                dataset,
                "--schema",
                schema,
                "--json",
            )
        )
        assert report["rows_in"] == report["rows_accepted"] + report["rows_quarantined"]
        quarantined += report["rows_quarantined"]
    with (incoming / "defects.csv").open() as handle:
        assert quarantined == sum(1 for _ in csv.DictReader(handle))

    cli(
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
    cli(claire, "projects", "approve", "1")
    for name in ("pmsi_stays", "dcir_claims", "fhir_patient"):
        cli(claire, "grants", "add", "1", name)
    linked = json.loads(
        cli(
            rita,
            "query",
            "--project",
            "1",
            "--json",
            "SELECT count(DISTINCT person_id) AS n FROM pmsi_stays "
            "JOIN dcir_claims USING (person_id) JOIN fhir_patient USING (person_id)",
        )
    )
    assert linked["rows"][0]["n"] > 0  # the three sources link on the pseudonym

    full = json.loads(cli(rita, "query", "--project", "1", "--json", "--show", "1000", AGE_SQL))
    assert min(r["n_stays"] for r in full["rows"]) < 10  # small cells exist in the workspace
    release = json.loads(
        cli(rita, "release", "--project", "1", "--query", str(full["query"]["id"]), "--json")
    )
    assert release["status"] == "pending"
    assert release["report"]["findings_per_rule"].get("threshold")
    refused = run_cli(
        "releases", "approve", str(release["id"]), env={**env, "PASSERELLE_TOKEN": rita}
    )
    assert_one_sentence(refused, "output-checker")
    approved = json.loads(cli(oscar, "releases", "approve", str(release["id"]), "--json"))
    assert approved["status"] == "released"
    csv_path = Path(hub) / "data" / approved["output_key"]
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    counts = [int(r["n_stays"]) for r in rows if r["n_stays"] not in ("", "null")]
    assert counts and min(counts) >= 10

    by_hub = json.loads(
        cli(
            rita,
            "release",
            "--project",
            "1",
            "--table",
            "pmsi_stays",
            "--group",
            "postcode",
            "--json",
        )
    )
    assert by_hub["report"]["computed_by"] == "hub" and by_hub["status"] in ("pending", "released")

    escape = run_cli(
        "query",
        "--project",
        "1",
        "SELECT * FROM read_parquet('datasets/pmsi_stays/**/*.parquet')",
        env={**env, "PASSERELLE_TOKEN": rita},
    )
    assert_one_sentence(escape)
    audit = cli(admin, "audit", "export", "--actor", "rita")
    refusals = [
        json.loads(line)
        for line in audit.splitlines()
        if '"query.run"' in line and '"denied"' in line
    ]
    assert refusals and refusals[-1]["details"]["reason"]
