"""A replica (or a move's destination) that reaches into the hub's own stores (found by the
attacker): the hub's store spelled another way, a folder inside it, the folder holding
it (the hub's directory, with its database and keys), another replica, a landing area.

Before the fix only the exact URL was refused: a replica at ``<store>/replica`` copied the
hub into itself on every pass (``replica/replica/...``), and one at the hub's directory
(with ``--adopt``) had its pass delete ``hub.db``, ``hub.toml`` and the keys."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from passerelle import hub as H
from passerelle.errors import ConflictError
from passerelle.hub.audit import list_events
from passerelle.live import cutover, finish, run_backlog, start_move
from passerelle.live.exit_drill import exit_drill
from passerelle.live.replica import add_replica, follow_replicas, replica_statuses, sync_replica
from passerelle.live.store_overlap import Location, location, overlaps
from passerelle.storage.config import RemoteConfig, StorageConfig
from tests.live.test_live_move import Crew, crew, keys_of, write

__all__ = ["crew"]


def _store_path(crew: Crew) -> Path:
    return Path(crew.hub.store().url.removeprefix("file://"))


def _spellings(crew: Crew, tmp_path: Path) -> dict[str, str]:
    store = _store_path(crew)
    link = tmp_path / "link-to-store"
    link.symlink_to(store)
    return {
        "dot": f"file://{store}/.",
        "dot_dot": f"file://{store.parent}/x/../{store.name}",
        "double_slash": f"file://{store.parent}//{store.name}/",
        "plain_path": str(store),
        "upper_scheme": f"FILE://{store}",
        "symlink": f"file://{link}",
        "inside": f"file://{store}/replica",
        "inside_via_symlink": f"file://{link}/replica",
        "around": f"file://{store.parent}",
        "hub_directory_sibling": f"file://{crew.hub.config.directory}/copy",
        "around_everything": "file:///",
    }


@pytest.mark.parametrize(
    "spelling",
    [
        "dot",
        "dot_dot",
        "double_slash",
        "plain_path",
        "upper_scheme",
        "symlink",
        "inside",
        "inside_via_symlink",
        "around",
        "hub_directory_sibling",
        "around_everything",
    ],
)
def test_a_replica_reaching_into_the_hubs_store_is_refused(
    crew: Crew, tmp_path: Path, spelling: str
) -> None:
    write(crew.hub, "datasets/d/a.bin", b"a" * 10)
    url = _spellings(crew, tmp_path)[spelling]
    with pytest.raises(ConflictError, match=r"the hub's (store|directory|database)"):
        add_replica(crew.hub, crew.ops, url, name="r", adopt=True)
    assert replica_statuses(crew.hub) == []
    events = list_events(crew.hub, crew.admin, H.AuditFilter(), limit=10_000)
    refused = [e for e in events if e["action"] == "hub.replica.add"]
    assert [e["decision"] for e in refused] == ["denied"]
    assert keys_of(crew.hub.store().url) == {"datasets/d/a.bin"}
    assert (crew.hub.config.directory / "hub.db").exists()


def test_a_replica_inside_or_around_another_replica_is_refused(crew: Crew, tmp_path: Path) -> None:
    add_replica(crew.hub, crew.ops, f"file://{tmp_path / 'copies' / 'paris'}", name="paris")
    for url in (f"file://{tmp_path / 'copies' / 'paris' / 'sub'}", f"file://{tmp_path / 'copies'}"):
        with pytest.raises(ConflictError, match="the replica 'paris'"):
            add_replica(crew.hub, crew.ops, url, name="other", adopt=True)
    add_replica(crew.hub, crew.ops, f"file://{tmp_path / 'copies' / 'paris2'}", name="lyon")
    assert [s.name for s in replica_statuses(crew.hub)] == ["lyon", "paris"]


def test_a_replica_at_a_landing_area_or_the_checkpoint_store_is_refused(tmp_path: Path) -> None:
    """Its passes would delete a steward's source files, or the signed checkpoints."""
    landing, checkpoints = tmp_path / "landing", tmp_path / "checkpoints"
    hub, issued = H.init_hub(
        tmp_path / "hub",
        checkpoints=f"file://{checkpoints}",
        settings={"ingest_sources": [f"file://{landing}/"]},
    )
    admin = H.authenticate(hub, issued.secret)
    for url, place in (
        (f"file://{landing}/drop", "a landing area"),
        (f"file://{tmp_path}", "a landing area|the checkpoint store|the hub's"),
        (f"file://{checkpoints}", "the checkpoint store"),
    ):
        with pytest.raises(ConflictError, match=place):
            add_replica(hub, admin, url, name="r", adopt=True)


def test_a_replica_around_the_key_file_kept_outside_the_hub_is_refused(tmp_path: Path) -> None:
    """With ``--adopt`` its pass would delete the hub's keys, wherever hub.toml puts them."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    hub, issued = H.init_hub(tmp_path / "hub", keys=str(secrets / "keys.json"))
    assert (secrets / "keys.json").exists()
    admin = H.authenticate(hub, issued.secret)
    with pytest.raises(ConflictError, match="the hub's key file"):
        add_replica(hub, admin, f"file://{secrets}", name="r", adopt=True)


def test_a_move_inside_the_hubs_store_is_refused_and_to_a_replica_allowed(
    crew: Crew, tmp_path: Path
) -> None:
    """A destination inside the source is copied into itself, and decommissioning the
    retired source later would erase the live store with it."""
    from passerelle.live import move_status

    store = _store_path(crew)
    with pytest.raises(ConflictError, match="inside the hub's store"):
        start_move(crew.hub, crew.ops, f"file://{store}/cloud-b")
    with pytest.raises(ConflictError, match="holds the hub's store"):
        start_move(crew.hub, crew.ops, f"file://{store.parent.parent}")
    assert move_status(crew.hub).phase == "single"
    events = list_events(crew.hub, crew.admin, H.AuditFilter(), limit=10_000)
    starts = [e["decision"] for e in events if e["action"] == "hub.migrate.start"]
    assert starts == ["denied", "denied"]
    replica = f"file://{tmp_path / 'cloud-b'}"
    add_replica(crew.hub, crew.ops, replica, name="paris")
    with pytest.raises(ConflictError, match="the replica 'paris'"):
        start_move(crew.hub, crew.ops, f"file://{tmp_path / 'cloud-b' / 'inner'}")
    start_move(crew.hub, crew.ops, replica)  # the exit the drill rehearses
    assert move_status(crew.hub).phase == "mirroring"


def test_a_replica_a_move_goes_to_is_never_copied_onto_itself(crew: Crew, tmp_path: Path) -> None:
    """Once the replica is the move's destination (and after the finish, the hub's store),
    its sync, follower and drill are refused with what to do, and the hub's objects stay."""
    replica = f"file://{tmp_path / 'cloud-b'}"
    add_replica(crew.hub, crew.ops, replica, name="paris")
    write(crew.hub, "datasets/d/a.bin", b"a" * 10)
    sync_replica(crew.hub, crew.ops, "paris")
    start_move(crew.hub, crew.ops, replica)
    with pytest.raises(ConflictError, match="is the move's destination"):
        sync_replica(crew.hub, crew.ops, "paris")
    write(crew.hub, "datasets/d/during.bin", b"m")
    run_backlog(crew.hub, crew.ops)
    cutover(crew.hub, crew.ops)
    finish(crew.hub, crew.ops)
    for run in (
        lambda: sync_replica(crew.hub, crew.ops, "paris"),
        lambda: exit_drill(crew.hub, crew.ops, "paris"),
    ):
        with pytest.raises(ConflictError, match=r"is the hub's store.*hub replica remove paris"):
            run()
    stop = threading.Event()
    rounds: list[dict[str, object]] = []

    def on_round(name: str, details: dict[str, object]) -> None:
        rounds.append(details)
        stop.set()

    follow_replicas(crew.hub, crew.ops, stop, idle_s=0.01, on_round=on_round)
    assert "is the hub's store" in str(rounds[0]["error"])
    assert keys_of(replica) == {"datasets/d/a.bin", "datasets/d/during.bin"}


_SCW = RemoteConfig(name="scw", type="s3", endpoint="https://s3.fr-par.scw.cloud")
_SCW_AGAIN = RemoteConfig(name="paris", type="s3", endpoint="https://S3.fr-par.scw.cloud/")
_OVH = RemoteConfig(name="ovh", type="s3", endpoint="https://s3.gra.io.cloud.ovh.net")
_CONFIG = StorageConfig(remotes={"scw": _SCW, "paris": _SCW_AGAIN, "ovh": _OVH})


@pytest.mark.parametrize(
    ("a", "b", "shared"),
    [
        ("s3://scw@hub/data", "s3://paris@hub/data/copy", True),  # two names, one endpoint
        ("s3://scw@hub/data", "s3://paris@hub", True),
        ("s3://scw@hub/data", "s3://ovh@hub/data", False),  # the same bucket name elsewhere
        ("s3://scw@hub/data", "s3://scw@hub/data2", False),  # a sibling prefix
        ("s3://scw@hub/data", "s3://scw@hub2/data", False),
        ("memory://a/x", "mem://a/x/y", True),
        ("az://ccc/x", "s3://scw@ccc/x", False),
    ],
)
def test_locations_compare_what_the_url_reaches(a: str, b: str, shared: bool) -> None:
    first, second = location(a, _CONFIG), location(b, _CONFIG)
    assert overlaps(first, second) is shared and overlaps(second, first) is shared


def test_overlap_is_a_shared_leading_path() -> None:
    here = Location("s3", "e|", ("b", "x"))
    assert overlaps(here, Location("s3", "e|", ("b",)))
    assert not overlaps(here, Location("s3", "e|", ("b", "xy")))
    assert not overlaps(here, Location("s3", "f|", ("b", "x")))


def _follow_in_background(
    crew: Crew, who: object
) -> tuple[threading.Thread, threading.Event, list[BaseException]]:
    stop, raised = threading.Event(), []

    def run() -> None:
        try:
            follow_replicas(crew.hub, crew.ops, stop, idle_s=0.02, who=who)  # type: ignore[arg-type]
        except BaseException as exc:  # what stopped it, for the test to read
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, stop, raised


@pytest.mark.parametrize("lost", ["token_revoked", "user_disabled", "role_taken"])
def test_the_follower_stops_once_its_operator_may_no_longer_run_it(
    tmp_path: Path, lost: str
) -> None:
    """The follower runs for days; it had kept copying in the name of an operator whose
    token was revoked, who was disabled or lost the role (it checked the roles it read
    when it started, and only before each hourly pass)."""
    from passerelle.errors import AuthenticationError, PermissionDeniedError

    hub, issued = H.init_hub(tmp_path / "hub")
    admin = H.authenticate(hub, issued.secret)
    H.create_user(hub, admin, "ops", "operator")
    token = H.issue_token(hub, admin, user="ops")
    ops = H.authenticate(hub, token.secret)
    crew = Crew(hub, ops, ops, admin)
    url = f"file://{tmp_path / 'replica'}"
    add_replica(hub, ops, url, name="paris")
    thread, stop, raised = _follow_in_background(crew, lambda: H.authenticate(hub, token.secret))
    try:
        write(hub, "datasets/d/before.bin", b"b")
        for _ in range(400):
            if "datasets/d/before.bin" in keys_of(url):
                break
            stop.wait(0.02)
        if lost == "token_revoked":
            H.revoke_token(hub, admin, token.token.id)
        elif lost == "user_disabled":
            H.update_user(hub, admin, "ops", active=False)
        else:
            H.update_user(hub, admin, "ops", roles="researcher")
        thread.join(timeout=60)
        assert not thread.is_alive()
    finally:
        stop.set()
        thread.join()
    expected = PermissionDeniedError if lost == "role_taken" else AuthenticationError
    assert len(raised) == 1 and isinstance(raised[0], expected), raised
    write(hub, "datasets/d/after.bin", b"a")
    assert keys_of(url) == {"datasets/d/before.bin"}


def test_the_follow_service_stops_once_its_token_is_revoked(crew: Crew, tmp_path: Path) -> None:
    """``hub replica sync --follow`` authenticates its token again each round: revoked, it
    exits with one sentence instead of copying on in that operator's name."""
    import os
    import subprocess
    import sys
    import time

    url = f"file://{tmp_path / 'replica'}"
    add_replica(crew.hub, crew.ops, url, name="paris")
    issued = H.issue_token(crew.hub, crew.admin, user="ops")
    env = {
        **os.environ,
        "PASSERELLE_HUB": str(crew.hub.config.directory),
        "PASSERELLE_TOKEN": issued.secret,
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    follower = subprocess.Popen(
        [sys.executable, "-m", "passerelle", "hub", "replica", "sync", "--follow"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        write(crew.hub, "datasets/d/before.bin", b"b")
        crew.hub.replica_noter().flush()
        for _ in range(600):
            if keys_of(url) == {"datasets/d/before.bin"}:
                break
            time.sleep(0.05)
        H.revoke_token(crew.hub, crew.admin, issued.token.id)
        _out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert follower.returncode not in (0, None), err
    assert "Traceback" not in err and err.count("error:") == 1, err
    assert "revoked" in err, err


def test_a_replica_added_again_elsewhere_under_the_same_name_gets_every_object(
    crew: Crew, tmp_path: Path
) -> None:
    """Its journal was named by the replica's name alone: the new one's pass failed on the
    old journal ("belongs to another migration; choose another --journal path")."""
    from passerelle.live.replica import remove_replica

    for i in range(3):
        write(crew.hub, f"datasets/d/{i}.bin", bytes([i]) * 10)
    add_replica(crew.hub, crew.ops, f"file://{tmp_path / 'a'}", name="paris")
    sync_replica(crew.hub, crew.ops, "paris")
    remove_replica(crew.hub, crew.ops, "paris")
    add_replica(crew.hub, crew.ops, f"file://{tmp_path / 'b'}", name="paris")
    sync_replica(crew.hub, crew.ops, "paris")
    expected = {f"datasets/d/{i}.bin" for i in range(3)}
    assert keys_of(f"file://{tmp_path / 'b'}") == keys_of(f"file://{tmp_path / 'a'}") == expected
