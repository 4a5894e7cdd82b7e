"""Issue 4's "done when" story, through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.api.conftest import Api, assert_error
from tests.api.helpers import dataset_body, org_body, project_body


def test_the_governance_story(api: Api) -> None:
    # A steward registers an organization and a (non-discoverable) dataset.
    org = api.ok("POST", "/organizations", "stella", json=org_body())
    assert org["code"] == "CHU-LYON" and org["kind"] == "hospital"
    dataset = api.ok("POST", "/datasets", "stella", json=dataset_body(discoverable=False))
    assert dataset["organization"] == "CHU-LYON" and dataset["current_version"] == 0

    # The researcher cannot see the hidden entry yet: not found, not forbidden.
    assert_error(api.get("/datasets/pmsi_mco", "rita"), 404, "not_found")
    assert api.ok("GET", "/datasets", "rita")["total"] == 0

    # A researcher submits a project.
    project = api.ok("POST", "/projects", "rita", json=project_body(api))
    pid = project["id"]
    assert project["status"] == "submitted" and project["submitted_by"] == "rita"
    assert project["members"] == ["rita"] and project["active"] is False

    # The same researcher's approval attempt is refused, and audited.
    refused = assert_error(api.post(f"/projects/{pid}/approve", "rita"), 403, "permission_denied")
    assert "project.approve" in refused["message"]
    denied = api.ok(
        "GET", "/audit/events", "aude", params={"actor": "rita", "project": pid, "limit": 1000}
    )["items"]
    assert any(
        e["action"] == "project.approve"
        and e["decision"] == "denied"
        and e["target"] == f"project:{pid}"
        for e in denied
    ), denied

    # A second steward approves and grants.
    approved = api.ok("POST", f"/projects/{pid}/approve", "simon")
    assert approved["status"] == "approved" and approved["decided_by"] == "simon"
    assert approved["active"] is True
    grant = api.ok(
        "POST",
        f"/projects/{pid}/grants",
        "simon",
        json={"dataset": "pmsi_mco", "columns": ["age", "diag"]},
    )
    assert grant["active"] is True and grant["columns"] == ["age", "diag"]
    assert grant["expires_on"] == project["end_date"] and grant["granted_by"] == "simon"

    # The researcher now reads the dataset's catalog entry (granted to their active project).
    entry = api.ok("GET", "/datasets/pmsi_mco", "rita")
    assert entry["name"] == "pmsi_mco" and [c["name"] for c in entry["schema"]] == [
        "patient_pseudo",
        "age",
        "diag",
    ]
    assert api.ok("GET", "/datasets", "rita")["total"] == 1
    grants = api.ok("GET", f"/projects/{pid}/grants", "rita")
    assert grants["total"] == 1 and grants["items"][0]["dataset"] == "pmsi_mco"

    # Suspension cuts access at once.
    api.ok("POST", f"/projects/{pid}/suspend", "stella")
    assert_error(api.get("/datasets/pmsi_mco", "rita"), 404, "not_found")
    api.ok("POST", f"/projects/{pid}/reinstate", "stella")
    assert api.ok("GET", "/datasets/pmsi_mco", "rita")["name"] == "pmsi_mco"

    # The audit log verifies.
    report = api.ok("GET", "/audit/verify", "aude")
    assert report["ok"] is True and report["first_bad_seq"] is None
    assert report["events"] == report["head_seq"] > 20


def test_editing_one_audit_row_makes_verify_name_it(api: Api) -> None:
    from sqlalchemy import text

    api.ok("POST", "/organizations", "stella", json=org_body())
    events = api.ok("GET", "/audit/events", "aude", params={"actor": "stella"})["items"]
    victim = events[0]["seq"]
    engine = api.hub.db.engine
    with engine.begin() as connection:
        # The table refuses UPDATE; an attacker with the database drops the guard first.
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER audit_events_no_update"))
        connection.execute(
            text("UPDATE audit_events SET actor = 'mallory' WHERE seq = :seq"), {"seq": victim}
        )
    report = api.ok("GET", "/audit/verify", "aude")
    assert report["ok"] is False
    assert report["first_bad_seq"] == victim
    assert report["problem"]
