"""The hub's live storage move through HTTP, on local folders, and ``/metrics``."""

from __future__ import annotations

import re
from pathlib import Path

from passerelle.hub import authenticate
from passerelle.live import run_backlog
from tests.api.conftest import SQLITE_ONLY, Api, assert_error

pytestmark = SQLITE_ONLY

SAMPLE = re.compile(
    r'^passerelle_(migration_[a-z_]+(\{phase="(single|mirroring|cutover)"\})?|replicas'
    r'|replica_[a-z_]+\{replica="[0-9]+"\}) '
    r"(-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?|NaN|\+Inf|-Inf)$"
)


def metrics(api: Api) -> dict[str, str]:
    """``/metrics`` without a token, every line checked; the samples by name."""
    response = api.get("/metrics", None)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {}
    for line in response.text.splitlines():
        if line.startswith("# "):
            assert re.match(r"^# (HELP|TYPE) passerelle_(migration_|replica)[a-z_]+ .+$", line)
            continue
        assert SAMPLE.match(line), line
        name, value = line.rsplit(" ", 1)
        samples[name] = value
    return samples


def write(api: Api, count: int) -> None:
    for i in range(count):
        body = bytes([i % 256]) * (500 + i)
        api.hub.store().put(f"datasets/d/part-{i}.bin", body, size=len(body))


def test_a_move_start_to_finish(api: Api, tmp_path: Path) -> None:
    api.add_user("otto", "operator")
    write(api, 12)
    before = api.ok("GET", "/hub/migration", "otto")
    assert before["phase"] == "single" and before["destination_url"] is None
    assert metrics(api)['passerelle_migration_phase{phase="single"}'] == "1"
    assert_error(api.post("/hub/migration/cutover", "otto"), 409, "conflict")  # nothing to cut
    assert_error(api.get("/hub/migration/decommission-check", "otto"), 409, "conflict")
    assert_error(api.post("/hub/migration/finish", "otto"), 409, "conflict")

    destination = f"file://{tmp_path / 'cloud-b'}"
    started = api.ok("POST", "/hub/migration/start", "otto", json={"destination_url": destination})
    assert started["phase"] == "mirroring" and started["destination_url"] == destination
    assert started["objects_total"] >= 12 and started["generation"] == before["generation"] + 1
    status = api.ok("GET", "/hub/migration", "aude")  # auditors may watch, audited as such
    assert status["phase"] == "mirroring"
    watched = api.ok("GET", "/audit/events", "aude", params={"actor": "aude", "limit": 1000})
    assert any(
        e["action"] == "audit.read" and e["target"] == "hub:storage" for e in watched["items"]
    )
    seen = metrics(api)
    assert seen['passerelle_migration_phase{phase="mirroring"}'] == "1"
    assert seen['passerelle_migration_phase{phase="single"}'] == "0"
    assert int(seen["passerelle_migration_objects_total"]) == status["objects_total"]
    assert_error(
        api.post("/hub/migration/start", "otto", json={"destination_url": destination}),
        409,
        "conflict",
    )

    # The backlog is the worker's job (``passerelle hub migrate run``), not a request's.
    assert run_backlog(api.hub, authenticate(api.hub, api.tokens["otto"])).complete
    copied = api.ok("GET", "/hub/migration", "otto")
    assert copied["objects_done"] == copied["objects_total"] and copied["failed"] == 0
    assert metrics(api)["passerelle_migration_objects_done"] == str(copied["objects_done"])

    evidence = api.ok("POST", "/hub/migration/cutover", "otto")
    assert evidence["ok"] is True and evidence["problems"] == []
    assert evidence["verified_deep"] == evidence["checked"] >= 12
    assert metrics(api)['passerelle_migration_phase{phase="cutover"}'] == "1"
    done = api.ok("POST", "/hub/migration/finish", "otto")
    assert done["ok"] is True
    after = api.ok("GET", "/hub/migration", "otto")
    assert after["phase"] == "single" and after["source_url"] == destination
    assert after["retired_url"] == before["source_url"]
    assert api.hub.store().get("datasets/d/part-11.bin").read() == bytes([11]) * 511
    check = api.ok("GET", "/hub/migration/decommission-check", "aude")  # auditors may ask
    assert check["safe"] is True and check["only_on_retired"] == 0
    assert_error(api.get("/hub/migration/decommission-check", "rita"), 403, "permission_denied")

    actions = [
        e["action"]
        for e in api.ok("GET", "/audit/events", "aude", params={"actor": "otto", "limit": 1000})[
            "items"
        ]
    ]
    for step in ("start", "cutover", "finish"):
        assert f"hub.migrate.{step}" in actions
    assert "migration.run" in actions  # the audited status reads and steps


def test_a_rollback_goes_back_to_the_source(api: Api, tmp_path: Path) -> None:
    write(api, 3)
    source = api.ok("GET", "/hub/migration", "admin")["source_url"]
    api.ok(
        "POST", "/hub/migration/start", "admin", json={"destination_url": f"file://{tmp_path}/b"}
    )
    back = api.ok("POST", "/hub/migration/rollback", "admin")
    assert back["phase"] == "single" and back["source_url"] == source
    assert back["destination_url"] is None
    assert_error(api.post("/hub/migration/rollback", "admin"), 409, "conflict")


def test_only_operators_and_admins_move_the_hub(api: Api, tmp_path: Path) -> None:
    body = {"destination_url": f"file://{tmp_path / 'elsewhere'}"}
    for who in ("rita", "stella", "aude"):
        assert_error(api.post("/hub/migration/start", who, json=body), 403, "permission_denied")
        assert_error(api.post("/hub/migration/rollback", who), 403, "permission_denied")
    for who in ("rita", "stella"):
        assert_error(api.get("/hub/migration", who), 403, "permission_denied")
    assert_error(api.get("/hub/migration", None), 401, "unauthenticated")
    assert not (tmp_path / "elsewhere").exists()
    denied = api.ok("GET", "/audit/events", "aude", params={"actor": "rita"})["items"]
    assert any(e["action"] == "migration.run" and e["decision"] == "denied" for e in denied)


def test_start_bodies_are_checked(api: Api, tmp_path: Path) -> None:
    def start(body: dict[str, object]) -> dict[str, object]:
        return assert_error(
            api.post("/hub/migration/start", "admin", json=body), 422, "invalid_request"
        )

    assert start({"destination_url": ""})["fields"]
    assert start({"destination_url": f"file://{tmp_path}", "require": ["cheap"]})
    assert start({"destination_url": "file:///x", "extra": 1})
    assert start({"destination_url": "nope://where"})  # the library refuses the scheme
    refused = api.post(
        "/hub/migration/start",
        "admin",
        json={"destination_url": f"file://{tmp_path}/c", "require": ["hds"]},
    )
    assert_error(refused, 422, "invalid_request")  # local folders are not HDS
    assert api.ok("GET", "/hub/migration", "admin")["phase"] == "single"


def test_metrics_leak_no_url_or_name(api: Api, tmp_path: Path) -> None:
    destination = f"file://{tmp_path / 'secret-destination'}"
    api.ok("POST", "/hub/migration/start", "admin", json={"destination_url": destination})
    text = api.get("/metrics", None).text
    assert "secret-destination" not in text and "file:" not in text and str(tmp_path) not in text
    assert "journal" not in text
