"""The witnessed audit log through the CLI (a real subprocess) and the HTTP API.

The person holding the database deletes tail events; ``passerelle audit verify``
exits 1 naming what is missing, ``audit checkpoint`` refuses to sign over it,
and ``GET /audit/verify`` says so; the signed head stays public for others to keep.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from passerelle.api import create_app
from passerelle.hub.audit import write_checkpoint
from passerelle.hub.checkpoint_chain import Checkpoint, signature_ok
from passerelle.hub.checkpoints import signed_head
from tests.backends import require_backend, unique_name
from tests.cli.test_storage_commands import assert_one_sentence, run_cli
from tests.databases import DATABASES, fresh_database
from tests.hub.test_audit_rollback import Witnessed, witness_url, witnessed  # noqa: F401
from tests.hub.test_audit_tamper import activity, raw


def cut_tail(database: str, after: int) -> None:
    """Delete every event after ``after``, as the database's owner can."""
    if database.startswith("sqlite"):
        with sqlite3.connect(database.removeprefix("sqlite:///")) as db:
            db.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
            db.execute("DELETE FROM audit_events WHERE seq > ?", (after,))
        return
    engine = create_engine(database)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("DELETE FROM audit_events WHERE seq > :n"), {"n": after})
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_kind", DATABASES)
def test_the_cli_names_the_cut_and_refuses_to_sign_over_it(db_kind: str, tmp_path: Path) -> None:
    require_backend("ceph")
    bucket = unique_name("cli-lock")
    with fresh_database(db_kind, tmp_path) as url:
        hub = str(tmp_path / "hub")
        config = tmp_path / "hub-settings.toml"
        config.write_text("[hub]\ncheckpoint_every = 4\ncheckpoint_minutes = 0\n")
        init = run_cli(
            "init", "--hub", hub, "--database", url, "--config", str(config),
            "--witness", f"s3://ceph@{bucket}/w", "--witness-retain-days", "1",
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        assert "S3 Object Lock (compliance, 1 days)" in init.stdout
        admin = init.stdout.strip().splitlines()[-1]
        env = {"PASSERELLE_HUB": hub, "PASSERELLE_TOKEN": admin}

        def cli(*args: str) -> str:
            proc = run_cli(*args, env=env)
            assert proc.returncode == 0, proc.stderr
            return proc.stdout

        for name in ("ann", "ben", "cat"):
            cli("users", "add", name, "--roles", "researcher")
        made = cli("audit", "checkpoint")
        assert made.startswith("checkpoint ")
        number, seq = int(made.split()[1]), int(made.split()[-1])
        kept = tmp_path / "kept-head.json"
        kept.write_text(run_cli("audit", "head", env={"PASSERELLE_HUB": hub}).stdout)
        head = json.loads(kept.read_text())
        assert head["checkpoint"]["number"] == number and head["checkpoint"]["seq"] == seq
        assert signature_ok(
            head["public_key"], Checkpoint.from_json(json.dumps(head["checkpoint"]))
        )
        ok = cli("audit", "verify", "--head", str(kept))
        assert "audit log verified" in ok and f"witness: {number} checkpoints" in ok

        cut_tail(url, seq - 2)
        bad = run_cli("audit", "verify", env=env)
        assert bad.returncode == 1 and "Traceback" not in bad.stderr
        message = " ".join(bad.stderr.split())
        assert f"witnessed checkpoint {number}" in message and "older copy" in message
        refused = run_cli("audit", "checkpoint", env=env)
        assert_one_sentence(refused, "will not sign a checkpoint", "restore")
        assert json.loads(run_cli("audit", "head", env={"PASSERELLE_HUB": hub}).stdout) == head

        junk = tmp_path / "junk.json"
        junk.write_text('{"checkpoint": {"number": 1}}')
        assert_one_sentence(run_cli("audit", "verify", "--head", str(junk), env=env), "signed head")


def test_the_head_is_public_and_verify_reports_the_cut(witnessed: Witnessed) -> None:  # noqa: F811
    w = witnessed
    activity(w.cast)
    cp = write_checkpoint(w.hub)
    assert cp is not None
    auditor = {"Authorization": f"Bearer {w.cast.tokens['auditor']}"}
    with TestClient(create_app(w.hub)) as client:
        public = client.get("/audit/head")  # no token
        assert public.status_code == 200
        body = public.json()
        assert body == signed_head(w.hub).to_dict()
        assert body["checkpoint"]["number"] == cp.number
        assert signature_ok(
            body["public_key"], Checkpoint.from_json(json.dumps(body["checkpoint"]))
        )
        assert "witness" not in json.dumps(body)  # no bucket or folder leaves by this route
        verified = client.get("/audit/verify", headers=auditor).json()
        assert verified["ok"] is True, verified
        raw(w.cast, f"DELETE FROM audit_events WHERE seq > {cp.seq - 2}")
        verified = client.get("/audit/verify", headers=auditor).json()
        assert verified["ok"] is False
        assert verified["first_bad_seq"] == cp.seq  # the verify call is audited first
        assert f"witnessed checkpoint {cp.number}" in verified["problem"]
        assert client.get("/audit/verify").status_code == 401
        researcher = {"Authorization": f"Bearer {w.cast.tokens['alice']}"}
        assert client.get("/audit/verify", headers=researcher).status_code == 403


def test_init_refuses_a_witness_that_is_not_write_once(tmp_path: Path) -> None:
    """One sentence, and no half-made hub whose admin token was never shown."""
    require_backend("ceph")
    from passerelle.storage import open_store

    hub = tmp_path / "hub"
    inside = run_cli("init", "--hub", str(hub), "--witness", f"file://{hub / 'witness'}")
    assert_one_sentence(inside, "inside the hub folder")
    assert not (hub / "hub.toml").exists()
    bucket = unique_name("plain")
    open_store(f"s3://ceph@{bucket}").create_container()  # a bucket without Object Lock
    plain = run_cli("init", "--hub", str(hub), "--witness", f"s3://ceph@{bucket}")
    assert_one_sentence(plain, "has no S3 Object Lock")
    assert not (hub / "hub.toml").exists()
    made = run_cli("init", "--hub", str(hub), "--witness", f"file://{tmp_path / 'w'}")
    assert made.returncode == 0, made.stderr
    assert "append-only file" in made.stdout and made.stdout.strip().splitlines()[-1].startswith(
        "pst_"
    )
