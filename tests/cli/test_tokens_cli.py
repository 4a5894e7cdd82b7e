"""The token commands as a user types them: the cap, the parent, and others' tokens unseen."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_storage_commands import assert_one_sentence, run_cli
from tests.databases import DATABASES, fresh_database


@pytest.mark.parametrize("db_kind", DATABASES)
def test_token_commands_hold_under_attack(db_kind: str, tmp_path: Path) -> None:
    with fresh_database(db_kind, tmp_path) as url:
        hub = str(tmp_path / "hub")
        init = run_cli("init", "--hub", hub, "--admin", "ada", "--database", url)
        assert init.returncode == 0, init.stderr
        ada = init.stdout.strip().splitlines()[-1]

        def as_(token: str, *args: str) -> subprocess.CompletedProcess[str]:
            return run_cli(*args, env={"PASSERELLE_HUB": hub, "PASSERELLE_TOKEN": token})

        def ok(token: str, *args: str) -> str:
            proc = as_(token, *args)
            assert proc.returncode == 0, proc.stderr
            return proc.stdout.strip()

        ok(ada, "users", "add", "rob", "--roles", "researcher")
        rob = ok(ada, "tokens", "create", "--user", "rob")
        # the cap holds for the admin too
        assert_one_sentence(as_(ada, "tokens", "create", "--days", "1000"), "1 to 90 days")
        # a child token never outlives the token that made it
        short = ok(rob, "tokens", "create", "--label", "short", "--days", "5")
        assert_one_sentence(
            as_(short, "tokens", "create", "--days", "30"),
            "cannot outlive it",
            "at most 4 day(s)",
        )
        grandchild = ok(short, "tokens", "create", "--label", "grandchild")
        listed = {t["label"]: t for t in json.loads(ok(rob, "tokens", "list", "--json"))}
        assert listed["grandchild"]["parent"] == listed["short"]["id"]
        assert listed["grandchild"]["expires_at"] == listed["short"]["expires_at"]
        # another user's tokens read exactly like a missing user's
        for name in ("ada", "nobody"):
            assert_one_sentence(
                as_(rob, "tokens", "list", "--user", name),
                f"no user '{name}' exists that you may see",
            )
        ada_token = json.loads(ok(ada, "tokens", "list", "--json"))[0]["id"]
        for token_id in (str(ada_token), "987654"):
            assert_one_sentence(
                as_(rob, "tokens", "revoke", token_id),
                f"no token {token_id} exists that you may see",
            )
        # revoking a token revokes the ones made with it
        ok(rob, "tokens", "revoke", str(listed["short"]["id"]))
        assert_one_sentence(as_(grandchild, "tokens", "list"), "revoked")
        assert ok(rob, "tokens", "list")


@pytest.mark.parametrize("db_kind", DATABASES)
def test_a_hidden_project_reads_like_a_missing_one(db_kind: str, tmp_path: Path) -> None:
    with fresh_database(db_kind, tmp_path) as url:
        hub = str(tmp_path / "hub")
        init = run_cli("init", "--hub", hub, "--admin", "ada", "--database", url)
        assert init.returncode == 0, init.stderr
        ada = init.stdout.strip().splitlines()[-1]

        def as_(token: str, *args: str) -> subprocess.CompletedProcess[str]:
            return run_cli(*args, env={"PASSERELLE_HUB": hub, "PASSERELLE_TOKEN": token})

        tokens = {}
        for name in ("rob", "rae"):
            assert as_(ada, "users", "add", name, "--roles", "researcher").returncode == 0
            tokens[name] = as_(ada, "tokens", "create", "--user", name).stdout.strip()
        submit = as_(
            tokens["rob"],
            *("projects", "submit", "--title", "Secret cohort", "--purpose", "Outcomes"),
            *("--legal-basis", "MR-004", "--authorization", "CNIL-1"),
            *("--start", "2026-01-01", "--end", "2030-12-31"),
        )
        assert submit.returncode == 0, submit.stderr
        for command in (("projects", "show"), ("projects", "close")):
            hidden = as_(tokens["rae"], *command, "1")
            missing = as_(tokens["rae"], *command, "987654")
            assert_one_sentence(hidden, "no project 1 exists that you may see")
            assert hidden.returncode == missing.returncode
            assert hidden.stderr == missing.stderr.replace("987654", "1")
            assert "Secret" not in hidden.stderr and "rob" not in hidden.stderr
