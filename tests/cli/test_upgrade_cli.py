"""`passerelle upgrade`: a hub made by an older passerelle is refused, then brought forward."""

from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.hub import Hub
from passerelle.hub.schema_revision import (
    SCHEMA_REVISION,
    SchemaState,
    known_revisions,
    schema_state,
)
from tests.cli.test_storage_commands import assert_one_sentence, run_cli
from tests.databases import DATABASES, fresh_database


def test_the_shipped_head_is_the_constant_the_code_checks() -> None:
    known = known_revisions()
    assert known[-1] == SCHEMA_REVISION
    assert known == sorted(known), "revisions are numbered in the order they apply"


@pytest.mark.parametrize(
    ("revision", "state"),
    [
        (None, SchemaState.EMPTY),
        ("0003", SchemaState.BEHIND),
        (SCHEMA_REVISION, SchemaState.CURRENT),
        ("9999", SchemaState.AHEAD),
        ("' OR 1=1", SchemaState.AHEAD),
    ],
)
def test_schema_state_is_a_pure_decision(revision: str | None, state: SchemaState) -> None:
    assert schema_state(revision, ["0001", "0002", "0003", SCHEMA_REVISION]) is state


@pytest.mark.parametrize("db_kind", DATABASES)
def test_an_old_hub_is_refused_until_upgraded_and_keeps_its_data(
    db_kind: str, tmp_path: Path
) -> None:
    with fresh_database(db_kind, tmp_path) as url:
        hub_dir = str(tmp_path / "hub")
        init = run_cli("init", "--hub", hub_dir, "--admin", "ada", "--database", url)
        assert init.returncode == 0, init.stderr
        admin = init.stdout.strip().splitlines()[-1]
        env = {"PASSERELLE_HUB": hub_dir, "PASSERELLE_TOKEN": admin}
        added = run_cli("users", "add", "claire", "--roles", "steward", env=env)
        assert added.returncode == 0, added.stderr

        old = Hub.open(hub_dir)
        old.db.downgrade("0003")  # the schema an older passerelle left behind
        assert old.db.revision() == "0003"
        old.close()

        refused = run_cli("users", "list", env=env)
        assert_one_sentence(refused, "revision 0003", "passerelle upgrade")

        upgraded = run_cli("upgrade", "--hub", hub_dir)
        assert upgraded.returncode == 0, upgraded.stderr
        assert f"from 0003 to {SCHEMA_REVISION}" in upgraded.stdout

        again = run_cli("upgrade", "--hub", hub_dir)
        assert again.returncode == 0, again.stderr
        assert "nothing to do" in again.stdout

        users = run_cli("users", "list", "--json", env=env)
        assert users.returncode == 0, users.stderr
        assert "claire" in users.stdout
        verify = run_cli("audit", "verify", env=env)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        events = run_cli("audit", "export", env=env)
        assert '"hub.upgrade"' in events.stdout


def test_upgrade_refuses_an_empty_or_a_newer_database(tmp_path: Path) -> None:
    missing = run_cli("upgrade", "--hub", str(tmp_path / "nowhere"))
    assert_one_sentence(missing, "passerelle init")

    hub_dir = tmp_path / "hub"
    init = run_cli("init", "--hub", str(hub_dir))
    assert init.returncode == 0, init.stderr
    hub = Hub.open(hub_dir)
    with hub.db.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    hub.close()
    newer = run_cli("upgrade", "--hub", str(hub_dir))
    assert_one_sentence(newer, "9999", "newer")
    serve = run_cli("serve", "--hub", str(hub_dir), "--port", "1")
    assert_one_sentence(serve, "9999")
