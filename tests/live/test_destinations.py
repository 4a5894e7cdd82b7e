"""Where a replica or a move may write (``destinations`` in hub.toml), tried by an operator
who names folders the hub never should write: another application's folder, one reached
through a symbolic link planted beside the hub, a prefix look-alike of a listed folder,
and a non-empty folder taken over with ``--adopt`` (whose passes delete what it holds)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from passerelle import hub as H
from passerelle.errors import ConfigError, PermissionDeniedError
from passerelle.hub.audit import list_events
from passerelle.hub.hub import read_settings
from passerelle.live import start_move
from passerelle.live.destinations import destination_allowed, refuse_undeclared
from passerelle.live.replica import add_replica, replica_statuses, sync_replica
from tests.live.test_live_move import Crew, crew, write

__all__ = ["crew"]


def _denied(crew: Crew, action: str) -> list[dict[str, object]]:
    events = list_events(crew.hub, crew.admin, H.AuditFilter(), limit=10_000)
    return [e for e in events if e["action"] == action and e["decision"] == "denied"]


def _elsewhere(tmp_path: Path) -> Path:
    """A folder outside the one holding the hub's directory (``tmp_path``), with files."""
    other = tmp_path.parent / f"{tmp_path.name}-other-app"
    other.mkdir()
    (other / "settings.conf").write_text("someone else's")
    return other


def test_the_decision_is_pure_and_compares_whole_segments() -> None:
    listed = ("file:///mnt/replica/", "s3://paris@hub-copy")
    assert destination_allowed(listed, None, "file:///mnt/replica/hub")
    assert destination_allowed(listed, None, "s3://paris@hub-copy/prefix")
    assert not destination_allowed(listed, None, "file:///mnt/replica-evil")
    assert not destination_allowed(listed, None, "s3://paris@hub-copy-evil")
    assert not destination_allowed(listed, None, "s3://lyon@hub-copy")
    assert not destination_allowed(listed, "/srv", "file:///srv/x")  # listed: only those
    assert destination_allowed((), "/srv", "s3://anything@bucket")
    assert destination_allowed((), "/srv", "file:///srv/replica")
    assert not destination_allowed((), "/srv", "file:///srvx/replica")
    assert not destination_allowed((), "/srv", "file:///etc/cron.d")
    assert not destination_allowed((), None, "file:///srv/replica")


def test_a_replica_outside_the_hubs_folder_is_refused_and_the_folder_untouched(
    crew: Crew, tmp_path: Path
) -> None:
    write(crew.hub, "datasets/d/a.bin", b"a" * 10)
    other = _elsewhere(tmp_path)
    with pytest.raises(PermissionDeniedError, match="destinations"):
        add_replica(crew.hub, crew.ops, f"file://{other}", name="r", adopt=True)
    assert replica_statuses(crew.hub) == []
    assert (other / "settings.conf").read_text() == "someone else's"
    assert len(_denied(crew, "hub.replica.add")) == 1


def test_a_symbolic_link_beside_the_hub_does_not_reach_outside(crew: Crew, tmp_path: Path) -> None:
    other = _elsewhere(tmp_path)
    (tmp_path / "innocent").symlink_to(other)
    for url in (f"file://{tmp_path / 'innocent'}", f"file://{tmp_path}/x/../../{other.name}"):
        with pytest.raises(PermissionDeniedError, match="outside the one that holds"):
            add_replica(crew.hub, crew.ops, url, name="r", adopt=True)
    assert sorted(p.name for p in other.iterdir()) == ["settings.conf"]


def test_listed_destinations_are_the_only_places(crew: Crew, tmp_path: Path) -> None:
    allowed = tmp_path.parent / f"{tmp_path.name}-replicas"
    crew.hub.config = dataclasses.replace(crew.hub.config, destinations=(f"file://{allowed}/",))
    write(crew.hub, "datasets/d/a.bin", b"a" * 10)
    for url in (f"file://{tmp_path / 'beside'}", f"file://{allowed}-evil/x"):
        with pytest.raises(PermissionDeniedError, match="not under the hub's destinations"):
            add_replica(crew.hub, crew.ops, url, name="r")
    add_replica(crew.hub, crew.ops, f"file://{allowed / 'paris'}", name="paris")
    sync_replica(crew.hub, crew.ops, "paris")
    assert (allowed / "paris" / "datasets" / "d" / "a.bin").read_bytes() == b"a" * 10


def test_a_replica_taken_out_of_the_destinations_is_no_longer_written(
    crew: Crew, tmp_path: Path
) -> None:
    add_replica(crew.hub, crew.ops, f"file://{tmp_path / 'paris'}", name="paris")
    crew.hub.config = dataclasses.replace(
        crew.hub.config, destinations=(f"file://{tmp_path / 'lyon'}",)
    )
    write(crew.hub, "datasets/d/a.bin", b"a" * 10)
    with pytest.raises(PermissionDeniedError, match="the replica 'paris'"):
        sync_replica(crew.hub, crew.ops, "paris")
    assert not (tmp_path / "paris" / "datasets").exists()


def test_a_move_outside_the_destinations_is_refused_and_audited(crew: Crew, tmp_path: Path) -> None:
    other = _elsewhere(tmp_path)
    with pytest.raises(PermissionDeniedError, match="the destination"):
        start_move(crew.hub, crew.ops, f"file://{other / 'hub'}")
    assert not (other / "hub").exists()
    assert len(_denied(crew, "hub.migrate.start")) == 1


def test_a_hub_at_the_top_of_the_file_system_needs_its_local_destinations_listed() -> None:
    config = H.HubConfig(directory=Path("/hub"))
    with pytest.raises(PermissionDeniedError, match="list it"):
        refuse_undeclared(config, "file:///srv/replica", "the replica")


@pytest.mark.parametrize("value", ['"file:///mnt"', "[1]", '[""]'])
def test_destinations_must_be_a_list_of_url_prefixes(tmp_path: Path, value: str) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(f"[hub]\ndestinations = {value}\n")
    with pytest.raises(ConfigError, match="destinations must be a list of URL prefixes"):
        read_settings(path)


def test_destinations_survive_the_config_file(tmp_path: Path) -> None:
    config = H.HubConfig(directory=tmp_path, destinations=('file:///mnt/a "b"', "s3://x@y"))
    path = tmp_path / "hub.toml"
    path.write_text(config.to_toml())
    assert read_settings(path)["destinations"] == ('file:///mnt/a "b"', "s3://x@y")
