"""``hub replica``: a continuous copy of the hub's store on another cloud, kept by the
outbox of writes and by incremental passes, proven with the migrations' digests."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from passerelle import hub as H
from passerelle.errors import ConflictError, NotFoundError, PermissionDeniedError, UsageError
from passerelle.hub.audit import list_events
from passerelle.live import cutover, finish, run_backlog, start_move
from passerelle.live.replica import (
    ReplicaStatus,
    add_replica,
    follow_replicas,
    remove_replica,
    replica_statuses,
    sync_replica,
    verify_replica,
)
from passerelle.migration.copy import SHA256_KEY
from passerelle.storage import open_store
from tests.live.test_live_move import Crew, crew, keys_of, write

__all__ = ["crew"]


def _replica(crew: Crew, tmp_path: Path, name: str = "paris") -> str:
    url = f"file://{tmp_path / ('replica-' + name)}"
    add_replica(crew.hub, crew.ops, url, name=name)
    return url


def _status(crew: Crew, name: str = "paris") -> ReplicaStatus:
    return next(s for s in replica_statuses(crew.hub) if s.name == name)


def test_writes_reach_the_replica_through_the_outbox(crew: Crew, tmp_path: Path) -> None:
    url = _replica(crew, tmp_path)
    write(crew.hub, "datasets/d/a.bin", b"a" * 100)
    write(crew.hub, "datasets/d/b.bin", b"b" * 50)
    write(crew.hub, "datasets/d/a.bin", b"A" * 120)  # twice: one copy settles both rows
    status = _status(crew)
    assert (status.lag_objects, status.lag_bytes) == (2, 270)
    details = sync_replica(crew.hub, crew.ops, "paris", full_pass=False)
    assert details["drain"]["copied"] == 2
    replica = open_store(url)
    assert replica.get("datasets/d/a.bin").read() == b"A" * 120
    assert SHA256_KEY in replica.head("datasets/d/a.bin").metadata  # the migrations' proof
    assert _status(crew).lag_objects == 0

    crew.hub.store().delete("datasets/d/b.bin")  # an erasure reaches the replica too
    assert sync_replica(crew.hub, crew.ops, "paris", full_pass=False)["drain"]["deleted"] == 1
    assert keys_of(url) == {"datasets/d/a.bin"}


def test_a_pass_copies_what_came_before_and_deletes_what_is_gone(
    crew: Crew, tmp_path: Path
) -> None:
    for i in range(5):
        write(crew.hub, f"datasets/d/old-{i}.bin", bytes([i]) * 10)  # before the replica
    url = _replica(crew, tmp_path)
    details = sync_replica(crew.hub, crew.ops, "paris")
    assert details["pass"]["copied"] == 5 and details["pass"]["complete"]
    assert keys_of(url) == {f"datasets/d/old-{i}.bin" for i in range(5)}

    # deleted behind the outbox's back (a process whose noting failed): the pass catches it
    source = open_store(crew.hub.store().url)
    source.delete("datasets/d/old-0.bin")
    source.put("datasets/d/new.bin", b"n", size=1)
    details = sync_replica(crew.hub, crew.ops, "paris")
    assert details["pass"]["deleted"] == 1 and details["pass"]["copied"] == 1
    assert "datasets/d/old-0.bin" not in keys_of(url)
    proof = verify_replica(crew.hub, crew.ops, "paris")
    assert proof["ok"] and proof["verified"] >= 5


def test_verify_names_a_replica_object_that_was_altered(crew: Crew, tmp_path: Path) -> None:
    url = _replica(crew, tmp_path)
    write(crew.hub, "datasets/d/x.bin", b"x" * 64)
    sync_replica(crew.hub, crew.ops, "paris")
    open_store(url).put("datasets/d/x.bin", b"y" * 64, size=64)  # same size, other bytes
    proof = verify_replica(crew.hub, crew.ops, "paris")
    assert not proof["ok"] and proof["problems"] == 1
    assert "datasets/d/x.bin" in proof["examples"][0]


def test_a_write_after_the_pass_is_proven_not_flagged(crew: Crew, tmp_path: Path) -> None:
    _replica(crew, tmp_path)
    write(crew.hub, "datasets/d/x.bin", b"1" * 10)
    sync_replica(crew.hub, crew.ops, "paris")
    write(crew.hub, "datasets/d/x.bin", b"2" * 12)  # overwritten since the pass, drained
    write(crew.hub, "datasets/d/y.bin", b"3")
    sync_replica(crew.hub, crew.ops, "paris", full_pass=False)
    proof = verify_replica(crew.hub, crew.ops, "paris")
    assert proof["ok"] and proof["proven_since_pass"] == 2, proof


def test_the_follower_keeps_the_replica_seconds_behind(crew: Crew, tmp_path: Path) -> None:
    url = _replica(crew, tmp_path)
    stop = threading.Event()
    rounds: list[dict[str, object]] = []
    follower = threading.Thread(
        target=follow_replicas,
        args=(crew.hub, crew.ops, stop),
        kwargs={"idle_s": 0.05, "on_round": lambda name, d: rounds.append(d)},
    )
    follower.start()
    try:
        for i in range(20):
            write(crew.hub, f"workspaces/p/r-{i}.bin", b"r" * i)
        for _ in range(400):
            if len(keys_of(url)) == 20 and _status(crew).lag_objects == 0:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        follower.join()
    assert len(keys_of(url)) == 20
    assert any("pass" in r for r in rounds)


def test_a_replica_follows_the_hub_across_a_finished_move(crew: Crew, tmp_path: Path) -> None:
    url = _replica(crew, tmp_path)
    write(crew.hub, "datasets/d/a.bin", b"a")
    sync_replica(crew.hub, crew.ops, "paris")
    start_move(crew.hub, crew.ops, f"file://{tmp_path / 'cloud-b'}")
    write(crew.hub, "datasets/d/during.bin", b"m")
    run_backlog(crew.hub, crew.ops)
    cutover(crew.hub, crew.ops)
    finish(crew.hub, crew.ops)
    write(crew.hub, "datasets/d/after.bin", b"f")
    details = sync_replica(crew.hub, crew.ops, "paris")
    assert details["pass"]["primary"].endswith("cloud-b")
    assert keys_of(url) == {"datasets/d/a.bin", "datasets/d/during.bin", "datasets/d/after.bin"}
    assert verify_replica(crew.hub, crew.ops, "paris")["ok"]


def test_adding_a_replica_is_checked_and_audited(crew: Crew, tmp_path: Path) -> None:
    hub = crew.hub
    with pytest.raises(PermissionDeniedError):
        add_replica(hub, crew.rita, f"file://{tmp_path / 'r'}", name="mine")
    with pytest.raises(ConflictError, match="is the hub's store"):
        add_replica(hub, crew.ops, hub.store().url, name="self")
    for bad in ("../x", "Paris", "a b", "x" * 70, "", "r\n"):
        with pytest.raises(UsageError, match="replica name"):
            add_replica(hub, crew.ops, f"file://{tmp_path / 'r'}", name=bad)
    busy = tmp_path / "busy"
    busy.mkdir()
    open_store(f"file://{busy}").put("someone/else.bin", b"z", size=1)
    with pytest.raises(ConflictError, match="already holds objects"):
        add_replica(hub, crew.ops, f"file://{busy}", name="busy")
    add_replica(hub, crew.ops, f"file://{busy}", name="busy", adopt=True)
    with pytest.raises(ConflictError, match="is the replica 'busy'"):
        add_replica(hub, crew.ops, f"file://{busy}", name="again")
    with pytest.raises(NotFoundError):
        sync_replica(hub, crew.ops, "nope")
    remove_replica(hub, crew.ops, "busy")
    write(hub, "datasets/d/z.bin", b"z")  # noted for no one once removed
    assert replica_statuses(hub) == []
    events = list_events(hub, crew.admin, H.AuditFilter(), limit=10_000)
    actions = [(e["action"], e["decision"]) for e in events if "replica" in e["action"]]
    assert ("hub.replica.add", "allowed") in actions and (
        "hub.replica.remove",
        "allowed",
    ) in actions


def test_the_exit_drill_times_the_switch_and_leaves_the_hub_serving(
    crew: Crew, tmp_path: Path
) -> None:
    from passerelle.live import move_status
    from passerelle.live.exit_drill import exit_drill

    for i in range(8):
        write(crew.hub, f"datasets/d/p-{i}.bin", bytes([i]) * 2000)
    _replica(crew, tmp_path)
    sync_replica(crew.hub, crew.ops, "paris")
    before = move_status(crew.hub)
    write(crew.hub, "datasets/d/late.bin", b"l" * 10)  # the final sync carries it
    drill = exit_drill(crew.hub, crew.ops, "paris")
    assert drill.ready and drill.hub_unchanged and not drill.problems
    assert drill.objects == 9 and drill.bytes == 8 * 2000 + 10
    assert drill.switch_seconds >= drill.verify_seconds > 0
    rules = {limit.rule: limit for limit in drill.limits}
    assert rules["Art. 25(2)(a) transitional period"].ok
    assert "12 January" not in rules["Art. 29 switching charges"].limit  # ISO date
    after = move_status(crew.hub)
    assert (after.phase, after.source_url, after.generation) == (
        before.phase,
        before.source_url,
        before.generation,
    )
    events = list_events(crew.hub, crew.admin, H.AuditFilter(), limit=10_000)
    drills = [e for e in events if e["action"] == "hub.exit-drill"]
    assert len(drills) == 1 and drills[0]["details"]["ready"] is True
    with pytest.raises(PermissionDeniedError):
        exit_drill(crew.hub, crew.rita, "paris")


def test_the_drill_final_sync_repairs_an_altered_replica(crew: Crew, tmp_path: Path) -> None:
    from passerelle.live.exit_drill import exit_drill

    url = _replica(crew, tmp_path)
    write(crew.hub, "datasets/d/x.bin", b"x" * 64)
    sync_replica(crew.hub, crew.ops, "paris")
    replica = open_store(url)
    info = replica.head("datasets/d/x.bin")
    # same size and the same stored proof, other bytes: only the deep proof sees it
    replica.put("datasets/d/x.bin", b"y" * 64, size=64, metadata=info.metadata)
    assert not verify_replica(crew.hub, crew.ops, "paris")["ok"]
    drill = exit_drill(crew.hub, crew.ops, "paris")  # its final sync copies it again
    assert drill.ready and replica.get("datasets/d/x.bin").read() == b"x" * 64


def test_data_act_limits_are_held_against_the_measured_switch() -> None:
    from datetime import date

    from passerelle.live.data_act import assess_switch

    fast = {x.rule: x for x in assess_switch(60.0, 3 * 86_400.0, "10.00 EUR", date(2026, 12, 7))}
    assert all(x.ok for x in fast.values())
    assert "until 2027-01-12" in fast["Art. 29 switching charges"].limit
    slow = {x.rule: x for x in assess_switch(31 * 86_400.0, 400 * 86_400.0, None, date(2027, 2, 1))}
    assert not slow["Art. 25(2)(a) transitional period"].ok
    assert not slow["Art. 25(4) without a replica"].ok
    assert slow["Art. 29 switching charges"].limit.startswith("none may be charged")


def test_metrics_show_each_replica_lag_by_number_only(crew: Crew, tmp_path: Path) -> None:
    from passerelle.live import move_status
    from passerelle.live.metrics import prometheus_text

    url = _replica(crew, tmp_path, name="secret-site")
    write(crew.hub, "datasets/d/a.bin", b"a" * 7)
    text = prometheus_text(move_status(crew.hub), replica_statuses(crew.hub))
    assert "passerelle_replicas 1" in text
    assert 'passerelle_replica_lag_objects{replica="1"} 1' in text
    assert 'passerelle_replica_lag_bytes{replica="1"} 7' in text
    assert "secret-site" not in text and url not in text


def test_the_cli_adds_syncs_verifies_and_drills(crew: Crew, tmp_path: Path) -> None:
    import json

    from tests.cli.test_storage_commands import assert_one_sentence, run_cli

    token = H.issue_token(crew.hub, crew.admin, user="ops").secret
    hub_dir = str(crew.hub.config.directory)
    write(crew.hub, "datasets/d/a.bin", b"a" * 30)
    url = f"file://{tmp_path / 'cli-replica'}"
    common = ["--hub", hub_dir, "--token", token]
    added = run_cli("hub", "replica", "add", url, "--name", "cli", *common, "--json")
    assert added.returncode == 0, added.stdout + added.stderr
    assert json.loads(added.stdout)["first_sync"]["pass"]["copied"] == 1
    listed = run_cli("hub", "replica", "list", *common, "--json")
    assert json.loads(listed.stdout)[0]["name"] == "cli"
    assert run_cli("hub", "replica", "verify", "cli", *common).returncode == 0
    drill = run_cli("hub", "exit-drill", "--to", "cli", *common)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "transitional period" in drill.stdout + drill.stderr
    open_store(url).put("datasets/d/a.bin", b"b" * 30, size=30)
    assert run_cli("hub", "replica", "verify", "cli", *common).returncode == 1
    assert_one_sentence(
        run_cli("hub", "replica", "add", url, "--name", "../x", *common), "replica name"
    )
    assert_one_sentence(run_cli("hub", "exit-drill", "--to", "nope", *common), "no replica named")


def test_the_follow_service_copies_writes_and_stops_on_sigterm(crew: Crew, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    url = _replica(crew, tmp_path)
    token = H.issue_token(crew.hub, crew.admin, user="ops").secret
    env = {
        **os.environ,
        "PASSERELLE_HUB": str(crew.hub.config.directory),
        "PASSERELLE_TOKEN": token,
    }
    follower = subprocess.Popen(
        [sys.executable, "-m", "passerelle", "hub", "replica", "sync", "--follow"],
        env={**env, "COLUMNS": "200", "NO_COLOR": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for i in range(5):
            write(crew.hub, f"releases/p/r-{i}.csv", b"n,1\n" * (i + 1))
        crew.hub.replica_noter().flush()
        for _ in range(600):
            if len(keys_of(url)) == 5:
                break
            time.sleep(0.05)
    finally:
        follower.send_signal(signal.SIGTERM)
        _out, err = follower.communicate(timeout=60)
    assert len(keys_of(url)) == 5, err
    assert follower.returncode == 0, err
    assert "Traceback" not in err
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "passerelle",
            "hub",
            "replica",
            "sync",
            "--follow",
            "--pass-every",
            "0",
        ],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert bad.returncode != 0 and "--pass-every" in bad.stderr and "Traceback" not in bad.stderr


def test_an_idle_follower_does_not_flood_the_audit_log(crew: Crew, tmp_path: Path) -> None:
    _replica(crew, tmp_path)
    H.create_user(crew.hub, crew.admin, "rex", "researcher")
    rex = H.authenticate(crew.hub, H.issue_token(crew.hub, crew.admin, user="rex").secret)

    def run(actor: H.Principal) -> list[dict[str, object]]:
        stop = threading.Event()
        rounds: list[dict[str, object]] = []
        follower = threading.Thread(
            target=follow_replicas,
            args=(crew.hub, actor, stop),
            kwargs={"idle_s": 0.01, "on_round": lambda name, d: rounds.append(d)},
        )
        follower.start()
        stop.wait(1.0)  # about a hundred idle rounds
        stop.set()
        follower.join()
        return rounds

    def follows() -> int:
        events = list_events(crew.hub, crew.admin, H.AuditFilter(), limit=10_000)
        return sum(1 for e in events if (e["details"] or {}).get("step") == "follow")

    run(crew.ops)
    assert follows() == 1  # authorized once, at the first pass
    with pytest.raises(PermissionDeniedError):  # not an operator: refused once, and stops
        follow_replicas(crew.hub, rex, threading.Event(), idle_s=0.01)
    assert follows() == 2, follows()
