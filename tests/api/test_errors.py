"""403 vs 404, 409, 422 and routing errors, all with the one error body."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.conftest import SQLITE_ONLY, Api, assert_error
from tests.api.helpers import approved_project, catalog, dataset_body, org_body, project_body


def test_a_researcher_of_project_a_gets_404_for_project_b(api: Api) -> None:
    catalog(api, discoverable=False)
    a = approved_project(api, "rita", "Project A")
    b = approved_project(api, "remy", "Project B")
    assert api.ok("GET", f"/projects/{a}", "rita")["title"] == "Project A"
    for method, path in [
        ("GET", f"/projects/{b}"),
        ("GET", f"/projects/{b}/grants"),
        ("POST", f"/projects/{b}/close"),
    ]:
        assert_error(api.call(method, path, "rita"), 404, "not_found")
    not_there = assert_error(api.get("/projects/999999", "rita"), 404, "not_found")
    hidden = assert_error(api.get(f"/projects/{b}", "rita"), 404, "not_found")
    assert set(not_there) == set(hidden)  # same shape: B's existence does not leak
    listed = api.ok("GET", "/projects", "rita")
    assert [p["title"] for p in listed["items"]] == ["Project A"] and listed["total"] == 1
    # A steward sees both; an auditor sees none (the trail only).
    assert api.ok("GET", "/projects", "simon")["total"] == 2
    assert api.ok("GET", "/projects", "aude")["total"] == 0


def test_role_refusals_are_403(api: Api) -> None:
    catalog(api)
    pid = approved_project(api)
    cases: list[tuple[str, str, str, dict[str, Any] | None]] = [
        ("POST", "/organizations", "rita", org_body("OTHER")),
        ("POST", "/datasets", "rita", dataset_body("other")),
        ("PATCH", "/datasets/pmsi_mco", "rita", {"discoverable": False}),
        ("POST", "/projects", "stella", project_body(api)),
        ("POST", f"/projects/{pid}/grants", "rita", {"dataset": "pmsi_mco"}),
        ("POST", "/users", "stella", {"name": "eve", "roles": ["admin"]}),
        ("GET", "/users", "rita", None),
        ("GET", "/audit/events", "rita", None),
        ("GET", "/audit/verify", "stella", None),
        ("GET", "/audit/export", "simon", None),
        ("POST", f"/projects/{pid}/suspend", "admin", None),
    ]
    for method, path, who, body in cases:
        assert_error(api.call(method, path, who, json=body), 403, "permission_denied")


def test_duplicates_are_409(api: Api) -> None:
    catalog(api)
    assert_error(api.post("/organizations", "stella", json=org_body()), 409, "conflict")
    assert_error(api.post("/datasets", "simon", json=dataset_body()), 409, "conflict")
    assert_error(
        api.post("/users", "admin", json={"name": "rita", "roles": ["researcher"]}), 409, "conflict"
    )
    error = assert_error(
        api.call("PATCH", "/users/admin", "admin", json={"active": False}), 409, "conflict"
    )
    assert "themselves" in error["message"]


def test_removing_the_principal_investigator_is_409(api: Api) -> None:
    pid = approved_project(api)
    assert_error(api.call("DELETE", f"/projects/{pid}/members/rita", "stella"), 409, "conflict")


def test_a_transition_from_the_wrong_status_is_409(api: Api) -> None:
    pid = approved_project(api)
    assert_error(api.post(f"/projects/{pid}/approve", "stella"), 409, "conflict")


def test_a_transition_from_the_wrong_status_is_refused_and_audited(api: Api) -> None:
    pid = approved_project(api)
    before = api.ok("GET", f"/projects/{pid}", "stella")
    response = api.post(f"/projects/{pid}/reinstate", "stella")
    assert response.status_code == 409
    assert "approved" in response.json()["error"]["message"]
    assert api.ok("GET", f"/projects/{pid}", "stella") == before
    events = api.ok("GET", "/audit/events", "aude", params={"project": pid})["items"]
    refusals = [e for e in events if e["action"] == "project.reinstate"]
    assert [e["decision"] for e in refusals] == ["denied"] and refusals[0]["actor"] == "stella"


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        ("POST", "/organizations", {"code": "X", "name": "n"}, "body.kind"),
        ("POST", "/organizations", {"code": "X", "name": "n", "kind": "bakery"}, "body.kind"),
        (
            "POST",
            "/organizations",
            {"code": "X", "name": "n", "kind": "hospital", "x": 1},
            "body.x",
        ),
        (
            "POST",
            "/organizations",
            {"code": "X\u0000", "name": "n", "kind": "hospital"},
            "body.code",
        ),
        (
            "POST",
            "/organizations",
            {"code": "X" * 65, "name": "n", "kind": "hospital"},
            "body.code",
        ),
        (
            "POST",
            "/datasets",
            {"name": "d", "organization": "O", "classification": "secret"},
            "body.classification",
        ),
        ("POST", "/users", {"name": "eve", "roles": []}, "body.roles"),
        ("POST", "/users", {"name": "eve", "roles": ["root"]}, "body.roles.0"),
        ("POST", "/tokens", {"days": 0}, "body.days"),
        ("POST", "/tokens", {"days": 3651}, "body.days"),
        ("POST", "/projects", {"title": "t"}, "body.purpose"),
        (
            "POST",
            "/projects/1/grants",
            {"dataset": "d", "expires_on": "next year"},
            "body.expires_on",
        ),
        ("GET", "/organizations?limit=0", None, "query.limit"),
        ("GET", "/organizations?limit=1001", None, "query.limit"),
        ("GET", "/organizations?offset=-1", None, "query.offset"),
        ("GET", "/projects/0", None, "path.project_id"),
        ("GET", "/projects/abc", None, "path.project_id"),
        ("GET", "/projects/99999999999999999999", None, "path.project_id"),
        ("GET", "/audit/events?since=yesterday", None, "query.since"),
        ("GET", "/audit/export?format=xml", None, "query.format"),
    ],
)
def test_invalid_requests_are_422_naming_the_field(
    api: Api, method: str, path: str, body: Any, where: str
) -> None:
    who = "aude" if path.startswith("/audit") else "stella"
    error = assert_error(api.call(method, path, who, json=body), 422, "invalid_request")
    assert where in [f["location"] for f in error["fields"]], error
    assert where in error["message"] or len(error["fields"]) > 1


@SQLITE_ONLY
def test_malformed_json_is_422(api: Api) -> None:
    response = api.client.post(
        "/organizations",
        content=b'{"code": "X", ',
        headers={**api.headers("stella"), "Content-Type": "application/json"},
    )
    assert_error(response, 422, "invalid_request")


def test_library_input_errors_are_422(api: Api) -> None:
    catalog(api)
    cases: list[tuple[str, str, str, dict[str, Any]]] = [
        (
            "POST",
            "/organizations",
            "stella",
            {"code": "has space", "name": "n", "kind": "hospital"},
        ),
        ("POST", "/datasets", "stella", dataset_body("Bad-Name")),
        (
            "POST",
            "/datasets",
            "stella",
            dataset_body("dup_cols", schema=[{"name": "a", "type": "INT"}] * 2),
        ),
        ("POST", "/datasets", "stella", dataset_body("bad_loc", locations=["nope://x"])),
        ("POST", "/projects", "rita", project_body(api, start="2030-01-02", end="2030-01-01")),
        ("POST", "/users", "admin", {"name": "Eve", "roles": ["researcher"]}),
    ]
    for method, path, who, body in cases:
        assert_error(api.call(method, path, who, json=body), 422, "invalid_request")
    pid = approved_project(api)
    end = api.ok("GET", f"/projects/{pid}", "stella")["end_date"]
    late = assert_error(
        api.post(
            f"/projects/{pid}/grants",
            "stella",
            json={"dataset": "pmsi_mco", "expires_on": "2999-01-01"},
        ),
        422,
        "invalid_request",
    )
    assert end in late["message"]
    assert_error(
        api.post(
            f"/projects/{pid}/grants", "stella", json={"dataset": "pmsi_mco", "columns": ["nir"]}
        ),
        422,
        "invalid_request",
    )


@SQLITE_ONLY
def test_unknown_routes_and_methods_get_the_error_body(api: Api) -> None:
    assert_error(api.get("/nowhere", "admin"), 404, "not_found")
    assert_error(api.get("/nowhere", None), 404, "not_found")
    response = api.call("DELETE", "/organizations", "admin")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


def test_every_error_status_has_the_one_body(api: Api) -> None:
    catalog(api)
    seen = {
        401: assert_error(api.get("/datasets", None), 401, "unauthenticated"),
        403: assert_error(
            api.post("/organizations", "rita", json=org_body("Z")), 403, "permission_denied"
        ),
        404: assert_error(api.get("/datasets/nothing_here", "stella"), 404, "not_found"),
        405: assert_error(api.call("PUT", "/datasets", "stella"), 405, "method_not_allowed"),
        409: assert_error(api.post("/organizations", "stella", json=org_body()), 409, "conflict"),
        422: assert_error(api.get("/datasets?limit=x", "stella"), 422, "invalid_request"),
    }
    for _ in range(api.hub.config.auth_failures):
        api.get("/datasets", None)
    throttled = api.get("/datasets", None)
    seen[429] = assert_error(throttled, 429, "too_many_requests")
    assert int(throttled.headers["retry-after"]) >= 1
    assert sorted(seen) == [401, 403, 404, 405, 409, 422, 429]


@pytest.mark.parametrize(
    "value",
    ["\ud800", "a\x00b"],
    ids=["lone-surrogate", "nul"],
)
def test_unstorable_text_is_422_not_500(api: Api, value: str) -> None:
    import json

    body = json.dumps({"code": "OK", "name": value, "kind": "hospital"})
    response = api.client.post(
        "/organizations",
        content=body.encode(),
        headers={**api.headers("stella"), "Content-Type": "application/json"},
    )
    assert_error(response, 422, "invalid_request")


@SQLITE_ONLY
def test_a_body_over_the_limit_is_413_declared_or_streamed(api: Api) -> None:
    from passerelle.api.errors import MAX_BODY_BYTES

    big = b'{"name": "' + b"a" * MAX_BODY_BYTES + b'"}'
    headers = {**api.headers("admin"), "Content-Type": "application/json"}
    assert_error(api.client.post("/users", content=big, headers=headers), 413, "too_large")

    def stream() -> Iterator[bytes]:
        for start in range(0, len(big), 1 << 20):
            yield big[start : start + (1 << 20)]

    assert_error(api.client.post("/users", content=stream(), headers=headers), 413, "too_large")
    assert api.ok("GET", "/users", "admin")["total"] == 6
