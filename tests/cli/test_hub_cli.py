"""The issue's story as a new user types it: init, roles, a project, a refusal, a tamper."""

from __future__ import annotations

import sqlite3
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.cli.test_storage_commands import assert_one_sentence, run_cli
from tests.databases import DATABASES, fresh_database


@pytest.mark.parametrize("db_kind", DATABASES)
def test_governance_story_then_a_hand_edited_row(db_kind: str, tmp_path: Path) -> None:
    with fresh_database(db_kind, tmp_path) as url:
        hub = str(tmp_path / "hub")
        init = run_cli("init", "--hub", hub, "--admin", "ada", "--database", url)
        assert init.returncode == 0, init.stderr
        admin = init.stdout.strip().splitlines()[-1]
        assert admin.startswith("pst_")

        def cli(token: str, *args: str) -> str:
            proc = run_cli(*args, env={"PASSERELLE_HUB": hub, "PASSERELLE_TOKEN": token})
            assert proc.returncode == 0, proc.stderr
            return proc.stdout

        tokens = {}
        for name, roles in (("sam", "steward"), ("sue", "steward"), ("rob", "researcher")):
            cli(admin, "users", "add", name, "--roles", roles)
            tokens[name] = cli(admin, "tokens", "create", "--user", name).strip()
        cli(tokens["sam"], "orgs", "add", "750712184", "--name", "AP-HP", "--kind", "hospital")
        cli(
            tokens["sam"],
            "datasets",
            "add",
            "pmsi_stays",
            "--org",
            "750712184",
            "--classification",
            "health-pseudonymized",
        )
        cli(
            tokens["rob"],
            "projects",
            "submit",
            "--title",
            "Diabetes",
            "--purpose",
            "Cohort",
            "--legal-basis",
            "MR-004",
            "--authorization",
            "CNIL-2026-001",
            "--start",
            "2026-01-01",
            "--end",
            "2030-12-31",
        )
        refused = run_cli(
            "projects",
            "approve",
            "1",
            env={"PASSERELLE_HUB": hub, "PASSERELLE_TOKEN": tokens["rob"]},
        )
        assert_one_sentence(refused, "permission denied", "steward")
        cli(tokens["sue"], "projects", "approve", "1")
        cli(tokens["sue"], "grants", "add", "1", "pmsi_stays")
        assert "pmsi_stays" in cli(tokens["rob"], "datasets", "show", "pmsi_stays")
        export = cli(admin, "audit", "export", "--actor", "rob")
        assert '"decision": "denied"' in export and "project.approve" in export
        assert "audit log verified" in cli(admin, "audit", "verify")

        if db_kind == "sqlite":
            with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
                db.execute("DROP TRIGGER audit_events_no_update")
                db.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 12")
        else:
            engine = create_engine(url)
            with engine.begin() as conn:
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 12"))
            engine.dispose()
        bad = run_cli("audit", "verify", env={"PASSERELLE_HUB": hub, "PASSERELLE_TOKEN": admin})
        assert bad.returncode == 1
        assert "first bad event 12" in " ".join(bad.stderr.split())
        assert "Traceback" not in bad.stderr


def test_user_errors_are_one_sentence(tmp_path: Path) -> None:
    hub = str(tmp_path / "hub")
    assert_one_sentence(run_cli("orgs", "list", "--hub", hub, "--token", "pst_x"), "no hub at")
    init = run_cli("init", "--hub", hub)
    admin = init.stdout.strip().splitlines()[-1]
    assert_one_sentence(run_cli("init", "--hub", hub), "already exists")
    env = {"PASSERELLE_HUB": hub}
    assert_one_sentence(run_cli("orgs", "list", env=env), "no valid API token")
    assert_one_sentence(run_cli("orgs", "list", "--token", "pst_nope", env=env), "unknown")
    env["PASSERELLE_TOKEN"] = admin
    assert_one_sentence(
        run_cli("users", "add", "xavier", "--roles", "king", env=env), "unknown role"
    )
    assert_one_sentence(run_cli("projects", "show", "42", env=env), "no project 42")
    assert_one_sentence(
        run_cli("orgs", "add", "1", "--name", "A", "--kind", "hospital", env=env),
        "needs the role steward",
    )


def test_init_from_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "hub-settings.toml"
    config.write_text('[hub]\nname = "hdh"\ntoken_days = 30\ningest_sources = ["file:///srv/"]\n')
    hub = tmp_path / "hub"
    assert run_cli("init", "--hub", str(hub), "--config", str(config)).returncode == 0
    written = tomllib.loads((hub / "hub.toml").read_text())["hub"]
    assert written["name"] == "hdh" and written["token_days"] == 30
    assert written["ingest_sources"] == ["file:///srv/"]
    config.write_text("[hub]\nbogus = 1\n")
    assert_one_sentence(
        run_cli("init", "--hub", str(tmp_path / "h2"), "--config", str(config)),
        "unknown setting 'bogus' in [hub]",
    )
    assert not (tmp_path / "h2").exists()
