"""Issue 15 §4 as a new user would try it: a hub on Azurite keeps a replica on Ceph RGW
current while researchers query and a steward ingests, then an exit drill to it leaves
the hub serving where it was."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from passerelle import hub as H
from passerelle.hub.ingestion import ingest_dataset
from passerelle.live import move_status
from passerelle.live.exit_drill import exit_drill
from passerelle.live.replica import (
    add_replica,
    follow_replicas,
    replica_statuses,
    sync_replica,
    verify_replica,
)
from passerelle.storage import open_store
from passerelle.synth import synthesize
from passerelle.workspace import run_query
from tests.backends import new_store_url

pytestmark = [pytest.mark.azurite, pytest.mark.ceph, pytest.mark.slow]

QUERY = "SELECT postcode, count(*) AS n FROM pmsi_stays GROUP BY 1 ORDER BY 1"


def test_a_replica_on_ceph_follows_a_working_hub_and_the_exit_drill_leaves_it_serving(
    tmp_path: Path,
) -> None:
    source = new_store_url("azurite", tmp_path, "replica-src")
    replica_url = new_store_url("ceph", tmp_path, "replica-dst")
    synthesize(tmp_path / "in", persons=200, seed=21, defect_rate=0.02)
    for n in range(4):
        synthesize(tmp_path / f"later-{n}", persons=60, seed=200 + n, sources=("stays",))
    hub, issued = H.init_hub(tmp_path / "hub", store=source)
    admin = H.authenticate(hub, issued.secret)
    for name, roles in (("stew", "steward"), ("rita", "researcher"), ("ops", "operator")):
        H.create_user(hub, admin, name, roles)
    stew, rita, ops = (
        H.authenticate(hub, H.issue_token(hub, admin, user=n).secret)
        for n in ("stew", "rita", "ops")
    )
    H.create_organization(hub, stew, "750712184", "AP-HP", "hospital")
    ingest_dataset(
        hub,
        stew,
        dataset="pmsi_stays",
        organization="750712184",
        source_url=f"file://{tmp_path / 'in' / 'stays.csv'}",
        schema="pmsi_stays",
    )
    today = hub.now().date()
    pid = H.submit_project(
        hub,
        rita,
        title="T",
        purpose="P",
        legal_basis="MR-004",
        authorization_ref="CNIL-1",
        start=today,
        end=today + timedelta(days=30),
    ).id
    H.change_status(hub, stew, pid, "approve")
    H.create_grant(hub, stew, pid, "pmsi_stays")
    baseline = run_query(hub, rita, pid, QUERY)[1].to_pydict()

    open_store(replica_url).delete("never-there")  # the bucket exists and is empty
    add_replica(hub, ops, replica_url, name="ceph-paris")
    stop, follower_stop = threading.Event(), threading.Event()
    failures: list[str] = []
    lags: list[float] = []

    def researcher() -> None:
        while not stop.is_set():
            try:
                if run_query(hub, rita, pid, QUERY)[1].to_pydict() != baseline:
                    failures.append("a query's answer changed")
            except Exception as exc:
                failures.append(f"query: {exc!r}")

    def steward() -> None:
        for n in range(4):
            try:
                ingest_dataset(
                    hub,
                    stew,
                    dataset=f"arrivals_{n}",
                    organization="750712184",
                    source_url=f"file://{tmp_path / f'later-{n}' / 'stays.csv'}",
                    schema="pmsi_stays",
                )
            except Exception as exc:
                failures.append(f"ingest {n}: {exc!r}")
            lags.append(replica_statuses(hub)[0].lag_seconds)

    follower = threading.Thread(
        target=follow_replicas, args=(hub, ops, follower_stop), kwargs={"idle_s": 0.1}
    )
    workers = [threading.Thread(target=researcher), threading.Thread(target=steward)]
    follower.start()
    for t in workers:
        t.start()
    workers[1].join()
    stop.set()  # the researcher's last results are writes too
    workers[0].join()
    caught_up = None
    started = time.monotonic()
    for _ in range(600):  # the follower drains what the ingests and queries wrote
        if replica_statuses(hub)[0].lag_objects == 0:
            caught_up = time.monotonic() - started
            break
        time.sleep(0.1)
    follower_stop.set()
    follower.join()
    print(f"replica lag seen during ingests: {lags}; caught up {caught_up} s after the last")
    assert not failures, failures[:5]
    assert caught_up is not None, "the replica never caught up"

    hub_keys = {i.key for i in hub.store().list()}
    assert hub_keys and hub_keys == {i.key for i in open_store(replica_url).list()}
    assert verify_replica(hub, ops, "ceph-paris")["ok"]

    before = move_status(hub)
    drill = exit_drill(hub, ops, "ceph-paris")
    assert drill.ready and drill.hub_unchanged, drill.problems
    # The hub keeps writing while the drill runs (its audit events, and the checkpoint they
    # may bring once checkpoint_min_seconds have passed), so the drill counts what is there
    # then: every object listed before it, and at most those listed after it.
    hub_keys_after = {i.key for i in hub.store().list()}
    assert hub_keys <= hub_keys_after
    assert len(hub_keys) <= drill.objects <= len(hub_keys_after)
    assert drill.switch_seconds > 0
    assert all(limit.ok for limit in drill.limits)
    after = move_status(hub)
    assert (after.phase, after.source_url) == (before.phase, before.source_url)
    assert run_query(hub, rita, pid, QUERY)[1].to_pydict() == baseline  # still serving
    assert sync_replica(hub, ops, "ceph-paris")["pass"]["complete"]
    hub.close()
