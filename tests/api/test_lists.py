"""Pagination (``limit``/``offset`` pages, the audit log's ``after`` cursor), audit export and filters."""

from __future__ import annotations

import csv
import io
import itertools
import json

from tests.api.conftest import Api, assert_error
from tests.api.helpers import approved_project, catalog, org_body


def test_pages_cover_a_list_exactly_once(api: Api) -> None:
    codes = [f"ORG-{i}" for i in range(7)]
    for code in codes:
        api.ok("POST", "/organizations", "stella", json=org_body(code))
    seen = []
    for offset in range(0, 9, 3):
        page = api.ok("GET", "/organizations", "rita", params={"limit": 3, "offset": offset})
        assert page["total"] == 7 and page["limit"] == 3 and page["offset"] == offset
        seen += [o["code"] for o in page["items"]]
    assert seen == codes
    past = api.ok("GET", "/organizations", "rita", params={"offset": 100})
    assert past["items"] == [] and past["total"] == 7
    default = api.ok("GET", "/organizations", "rita")
    assert default["limit"] == 100 and default["offset"] == 0 and len(default["items"]) == 7


def test_users_and_tokens_pages(api: Api) -> None:
    users = api.ok("GET", "/users", "simon", params={"limit": 2, "offset": 1})
    assert users["total"] == 6 and [u["name"] for u in users["items"]] == ["stella", "simon"]
    for days in (1, 2, 3):
        api.ok("POST", "/tokens", "remy", json={"days": days, "label": f"t{days}"})
    tokens = api.ok("GET", "/tokens", "remy", params={"limit": 2, "offset": 2})
    assert tokens["total"] == 4 and [t["label"] for t in tokens["items"]] == ["t2", "t3"]


def test_dataset_versions(api: Api) -> None:
    catalog(api)
    body = {
        "digest": "sha256:" + "a" * 64,
        "schema": [{"name": "age", "type": "INTEGER"}],
        "row_count": 1200,
        "files": [{"url": "file:///data/pmsi/part-0.parquet", "size": 4096, "sha256": "b" * 64}],
        "note": "first load",
    }
    first = api.ok("POST", "/datasets/pmsi_mco/versions", "stella", json=body)
    assert first["version"] == 1 and first["created_by"] == "stella"
    again = api.ok("POST", "/datasets/pmsi_mco/versions", "simon", json=body)
    assert again["version"] == 1  # same content digest: the same version
    second = api.ok(
        "POST",
        "/datasets/pmsi_mco/versions",
        "stella",
        json={**body, "digest": "sha256:" + "c" * 64},
    )
    assert second["version"] == 2
    entry = api.ok("GET", "/datasets/pmsi_mco", "stella")
    assert entry["current_version"] == 2 and entry["row_count"] == 1200
    assert entry["locations"] == ["file:///data/pmsi"]
    history = api.ok("GET", "/datasets/pmsi_mco/versions", "rita", params={"limit": 1, "offset": 1})
    assert history["total"] == 2 and [v["version"] for v in history["items"]] == [2]
    updated = api.ok("PATCH", "/datasets/pmsi_mco", "simon", json={"discoverable": False})
    assert updated["discoverable"] is False
    assert_error(api.get("/datasets/pmsi_mco/versions", "rita"), 404, "not_found")


def test_members(api: Api) -> None:
    pid = approved_project(api)
    project = api.ok("POST", f"/projects/{pid}/members", "rita", json={"user": "remy"})
    assert project["members"] == ["remy", "rita"]
    assert api.ok("GET", f"/projects/{pid}", "remy")["id"] == pid
    assert_error(
        api.post(f"/projects/{pid}/members", "rita", json={"user": "aude"}), 422, "invalid_request"
    )
    assert_error(
        api.post(f"/projects/{pid}/members", "rita", json={"user": "nobody"}), 404, "not_found"
    )
    project = api.ok("DELETE", f"/projects/{pid}/members/remy", "stella")
    assert project["members"] == ["rita"]
    assert_error(api.get(f"/projects/{pid}", "remy"), 404, "not_found")
    closed = api.ok("POST", f"/projects/{pid}/close", "rita")  # the principal investigator
    assert closed["status"] == "closed" and closed["active"] is False


def test_revoking_a_grant_cuts_access(api: Api) -> None:
    catalog(api, discoverable=False)
    pid = approved_project(api)
    grant = api.ok("POST", f"/projects/{pid}/grants", "stella", json={"dataset": "pmsi_mco"})
    assert api.get("/datasets/pmsi_mco", "rita").status_code == 200
    revoked = api.ok("POST", f"/grants/{grant['id']}/revoke", "simon")
    assert revoked["revoked"] is True and revoked["active"] is False
    assert_error(api.get("/datasets/pmsi_mco", "rita"), 404, "not_found")
    assert_error(api.post("/grants/999999/revoke", "simon"), 404, "not_found")


def test_audit_events_page_with_the_after_cursor(api: Api) -> None:
    for i in range(5):
        api.ok("POST", "/organizations", "stella", json=org_body(f"O{i}"))
    seqs: list[int] = []
    after = 0
    while True:
        page = api.ok("GET", "/audit/events", "aude", params={"limit": 7, "after": after})
        seqs += [e["seq"] for e in page["items"]]
        assert page["limit"] == 7 and page["after"] == after
        if page["next_after"] is None:
            break
        assert page["next_after"] == page["items"][-1]["seq"]
        after = page["next_after"]
    assert seqs == list(range(1, len(seqs) + 1))  # every event once, in chain order
    chain = api.ok("GET", "/audit/events", "aude", params={"limit": 1000})["items"]
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(chain))


def test_audit_filters_and_export(api: Api) -> None:
    catalog(api)
    pid = approved_project(api)
    by_simon = api.ok("GET", "/audit/events", "aude", params={"actor": "simon", "limit": 1000})
    assert by_simon["items"] and {e["actor"] for e in by_simon["items"]} == {"simon"}
    about = api.ok("GET", "/audit/events", "aude", params={"project": pid, "limit": 1000})["items"]
    assert {e["action"] for e in about} >= {"project.created", "project.approve"}
    api.ok("POST", f"/projects/{pid}/grants", "stella", json={"dataset": "pmsi_mco"})
    api.ok("GET", "/datasets/pmsi_mco", "rita")
    dataset_events = api.ok(
        "GET", "/audit/events", "aude", params={"dataset": "pmsi_mco", "limit": 1000}
    )["items"]
    assert {e["action"] for e in dataset_events} >= {"grant.create", "dataset.read-entry"}
    by_id = api.ok("GET", "/audit/events", "aude", params={"dataset": "1", "limit": 1000})
    assert by_id["items"] == dataset_events
    future = api.ok("GET", "/audit/events", "aude", params={"since": "2999-01-01T00:00:00Z"})
    assert future["items"] == [] and future["next_after"] is None
    assert_error(
        api.get("/audit/events", "aude", params={"dataset": "never_was"}), 422, "invalid_request"
    )

    lines = api.get("/audit/export", "aude", params={"actor": "simon"})
    assert lines.status_code == 200
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in lines.text.splitlines()]
    assert [r["seq"] for r in records] == [e["seq"] for e in by_simon["items"]]
    about = api.ok("GET", "/audit/events", "aude", params={"project": pid, "limit": 1000})["items"]
    table = api.get("/audit/export", "admin", params={"format": "csv", "project": pid})
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [int(r["seq"]) for r in rows] == [e["seq"] for e in about]
    assert rows[0].keys() >= {"seq", "at", "actor", "action", "decision", "hash", "prev_hash"}
