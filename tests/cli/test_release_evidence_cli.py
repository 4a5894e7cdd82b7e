"""Issue 11, section 1, as a researcher types it: the hub's evidence, the hub's policy.

On SQLite and PostgreSQL: a researcher cannot choose the disclosure policy,
a steward sets it, and the attacks on the evidence are held or refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli.test_storage_commands import assert_one_sentence, run_cli
from tests.databases import DATABASES, fresh_database

Cli = Callable[..., str]


@pytest.fixture(params=DATABASES)
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Cli, dict[str, str]]]:
    incoming = tmp_path / "incoming"
    synth = run_cli("synth", "--persons", "400", "--seed", "11", "--out", str(incoming))
    assert synth.returncode == 0, synth.stderr
    with fresh_database(str(request.param), tmp_path) as url:
        folder = str(tmp_path / "hub")
        made = run_cli("init", "--hub", folder, "--database", url)
        assert made.returncode == 0, made.stderr
        admin = made.stdout.strip().splitlines()[-1]
        env = {"PASSERELLE_HUB": folder}

        def cli(token: str, *args: str) -> str:
            proc = run_cli(*args, env={**env, "PASSERELLE_TOKEN": token})
            assert proc.returncode == 0, proc.stderr
            return proc.stdout

        tokens = {"admin": admin, "env": folder}
        for name, roles in (("claire", "steward"), ("rita", "researcher")):
            cli(admin, "users", "add", name, "--roles", roles)
            tokens[name] = cli(admin, "tokens", "create", "--user", name).strip()
        cli(tokens["claire"], "orgs", "add", "750712184", "--name", "AP-HP", "--kind", "hospital")
        cli(
            tokens["claire"],
            "ingest",
            f"file://{incoming / 'stays.csv'}",
            "--org",
            "750712184",
            "--dataset",
            "pmsi_stays",
            "--schema",
            "pmsi_stays",
        )
        cli(
            tokens["rita"],
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
        cli(tokens["claire"], "projects", "approve", "1", "--policy", "sacro", "--order-statistics")
        cli(tokens["claire"], "grants", "add", "1", "pmsi_stays")
        yield cli, tokens


def release(cli: Cli, token: str, sql: str) -> dict[str, object]:
    query = json.loads(cli(token, "query", "--project", "1", "--json", "--show", "0", sql))
    out = cli(token, "release", "--project", "1", "--query", str(query["query"]["id"]), "--json")
    return json.loads(out)  # type: ignore[no-any-return]


def test_the_policy_is_the_stewards_and_the_evidence_the_hubs(
    hub: tuple[Cli, dict[str, str]],
) -> None:
    cli, tokens = hub
    rita, claire = tokens["rita"], tokens["claire"]
    env = {"PASSERELLE_HUB": tokens["env"], "PASSERELLE_TOKEN": rita}
    query = json.loads(
        cli(
            rita,
            "query",
            "--project",
            "1",
            "--json",
            "SELECT sex, count(*) AS n FROM pmsi_stays GROUP BY sex",
        )
    )
    chosen = run_cli(
        "release",
        "--project",
        "1",
        "--query",
        str(query["query"]["id"]),
        "--policy",
        "opensafely",
        env=env,
    )
    assert chosen.returncode != 0 and "No such option" in chosen.stderr
    assert "Traceback" not in chosen.stderr
    at_approval = json.loads(cli(rita, "projects", "policy", "1", "--json"))
    assert at_approval == {"project_id": 1, "policy": "sacro", "order_statistics": True}
    assert_one_sentence(
        run_cli("projects", "policy", "1", "--set", "opensafely", env=env), "permission denied"
    )
    bad = run_cli(
        "projects", "policy", "1", "--set", "lenient", env={**env, "PASSERELLE_TOKEN": claire}
    )
    assert_one_sentence(bad, "No disclosure policy")
    set_ = json.loads(cli(claire, "projects", "policy", "1", "--set", "opensafely", "--json"))
    assert set_ == {"project_id": 1, "policy": "opensafely", "order_statistics": False}
    assert json.loads(cli(rita, "projects", "policy", "1", "--json"))["policy"] == "opensafely"

    faked = release(
        cli, rita, "SELECT sex, count(*) AS n, 100 AS n_persons FROM pmsi_stays GROUP BY sex"
    )
    assert faked["status"] == "pending" and faked["policy"] == "opensafely"
    report = faked["report"]
    assert isinstance(report, dict) and report["evidence_verified"] is False
    per_person = release(
        cli, rita, "SELECT person_id, count(*) AS n FROM pmsi_stays GROUP BY person_id"
    )
    assert per_person["status"] == "rejected"
    largest = release(
        cli, rita, "SELECT sex, max(length(main_diagnosis)) AS m FROM pmsi_stays GROUP BY sex"
    )
    assert largest["status"] == "pending"
    report = largest["report"]
    assert isinstance(report, dict) and report["findings_per_rule"].get("order-statistic")
    shown = run_cli("releases", "show", str(largest["id"]), env=env)
    assert shown.returncode == 0 and "order-statistic" in shown.stdout
    assert "evidence computed by the hub" in shown.stdout
    unverified = run_cli("releases", "show", str(faked["id"]), env=env)
    assert "evidence not verified" in unverified.stdout
