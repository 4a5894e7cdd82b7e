"""``hub migrate decommission-check``: the retired store may be switched off only when
the hub's store holds everything the hub still reads from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from passerelle import hub as H
from passerelle.errors import ConflictError, PermissionDeniedError
from passerelle.hub.audit import list_events
from passerelle.live import cutover, finish, move_status, run_backlog, start_move
from passerelle.live.decommission import decommission_check
from passerelle.storage import open_store
from tests.cli.test_storage_commands import run_cli
from tests.live.test_live_move import Crew, crew, write

__all__ = ["crew"]


def _finished(crew: Crew, tmp_path: Path) -> tuple[str, str]:
    """A hub moved to cloud-b and finished: (the retired store's URL, the hub's)."""
    hub, ops = crew.hub, crew.ops
    source = move_status(hub).source_url
    dest = f"file://{tmp_path / 'cloud-b'}"
    for i in range(12):
        write(hub, f"datasets/d/part-{i}.bin", bytes([i]) * (100 + i))
    start_move(hub, ops, dest)
    write(hub, "during/mirroring.bin", b"m")
    run_backlog(hub, ops)
    cutover(hub, ops)
    finish(hub, ops)
    return source, move_status(hub).source_url


def test_a_clean_finish_is_safe_to_decommission(crew: Crew, tmp_path: Path) -> None:
    _finished(crew, tmp_path)
    write(crew.hub, "after/finish.bin", b"new")  # only on the hub's store: no matter
    crew.hub.store().put("datasets/d/part-3.bin", b"overwritten", size=11)  # newer: no matter
    crew.hub.store().delete("datasets/d/part-4.bin")  # reaches the retired store too
    check = decommission_check(crew.hub, crew.ops)
    assert check.safe and check.problem() == "", check
    assert check.listed >= 12
    events = list_events(crew.hub, crew.admin, H.AuditFilter(), limit=10_000)
    checks = [e for e in events if e["action"] == "hub.migrate.decommission-check"]
    assert len(checks) == 1 and checks[0]["details"]["safe"] is True


def test_an_object_only_on_the_retired_store_is_named(crew: Crew, tmp_path: Path) -> None:
    """Lost from the hub's store (a mirrored write that never landed, an object put in
    the old bucket by hand): the hub still serves it from the old cloud."""
    retired, current = _finished(crew, tmp_path)
    open_store(current).delete("datasets/d/part-7.bin")
    open_store(retired).put("late/by-hand.csv", b"x" * 50, size=50)
    keys = tmp_path / "keys.jsonl"
    check = decommission_check(crew.hub, crew.ops, keys_out=keys)
    assert not check.safe
    assert check.only_there == 2 and check.only_there_bytes == 107 + 50
    assert set(check.examples) == {"datasets/d/part-7.bin", "late/by-hand.csv"}
    assert "2 objects" in check.problem() and retired in check.problem()
    lines = keys.read_text().splitlines()
    assert sorted(json.loads(line) for line in lines) == sorted(check.examples)


def test_it_refuses_before_a_move_is_finished_and_to_outsiders(crew: Crew, tmp_path: Path) -> None:
    with pytest.raises(ConflictError, match="no store is retired"):
        decommission_check(crew.hub, crew.ops)
    start_move(crew.hub, crew.ops, f"file://{tmp_path / 'cloud-b'}")
    with pytest.raises(ConflictError, match="finish the move"):
        decommission_check(crew.hub, crew.ops)
    with pytest.raises(PermissionDeniedError):
        decommission_check(crew.hub, crew.rita)


def test_the_cli_exits_1_with_one_sentence_then_0(crew: Crew, tmp_path: Path) -> None:
    retired, current = _finished(crew, tmp_path)
    open_store(current).delete("datasets/d/part-2.bin")
    token = H.issue_token(crew.hub, crew.admin, user="ops").secret
    env = {"PASSERELLE_HUB": str(crew.hub.config.directory), "PASSERELLE_TOKEN": token}
    proc = run_cli("hub", "migrate", "decommission-check", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "not safe" in proc.stderr and "datasets/d/part-2.bin" in proc.stderr
    assert "Traceback" not in proc.stderr
    body = open_store(retired).get("datasets/d/part-2.bin").read()
    open_store(current).put("datasets/d/part-2.bin", body, size=len(body))
    proc = run_cli("hub", "migrate", "decommission-check", "--json", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["safe"] is True


def test_the_keys_file_is_new_private_and_never_a_planted_link(crew: Crew, tmp_path: Path) -> None:
    """Someone who can write where the operator saves the list (a shared /tmp) plants a
    link to a file worth destroying; the key names come from whoever could write the
    retired bucket. Found by the attacker: the file was truncated through the link."""
    from passerelle.errors import UsageError

    _, current = _finished(crew, tmp_path)
    open_store(current).delete("datasets/d/part-7.bin")
    victim = tmp_path / "victim.txt"
    victim.write_text("important\n")
    link = tmp_path / "keys.jsonl"
    link.symlink_to(victim)
    with pytest.raises(UsageError, match="already exists"):
        decommission_check(crew.hub, crew.ops, keys_out=link)
    assert victim.read_text() == "important\n"
    with pytest.raises(UsageError, match="already exists"):
        decommission_check(crew.hub, crew.ops, keys_out=victim)
    fresh = tmp_path / "fresh.jsonl"
    decommission_check(crew.hub, crew.ops, keys_out=fresh)
    assert fresh.stat().st_mode & 0o777 == 0o600
    assert [json.loads(line) for line in fresh.read_text().splitlines()] == [
        "datasets/d/part-7.bin"
    ]
