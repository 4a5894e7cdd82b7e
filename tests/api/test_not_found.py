"""A hidden thing is answered exactly like a missing one, on every route with a path id.

For every operation of the OpenAPI document that takes an id in its path, and
for every role, the answer about an object that exists but is out of the
caller's sight is compared with the answer about one that does not exist: same
status, and bodies byte-identical once the id the caller asked for is put back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from passerelle.api import create_app
from passerelle.hub import Hub
from tests.api.conftest import Api
from tests.api.helpers import dataset_body, ingest_body, org_body, project_body

MISSING_ID = 987654
MISSING_NAME = "no_such_thing"

ROLES = {
    "admin": "admin",
    "steward": "stella",
    "researcher": "rita",
    "output-checker": "olga",
    "auditor": "aude",
    "operator": "otto",
}

HIDDEN_FROM = {
    "project": {"researcher", "auditor", "operator"},
    "dataset": {"researcher", "admin", "output-checker", "auditor"},
    "query": {"researcher", "auditor", "operator"},
    "release": {"researcher", "auditor", "operator"},
    "grant": {"researcher", "auditor", "operator"},
    "token": set(ROLES) - {"admin"},
    "user": set(ROLES) - {"admin"},
    "replica": {"researcher", "steward", "output-checker", "auditor"},  # may not remove one
}
"""Who may not see each kind of object of Remy's project B (so must get identical answers)."""
MAY_ACT = {("POST", "/hub/replicas/{name}/verify"): {"auditor"}}
"""Roles a route lets act on an object its kind hides from them (auditors prove replicas,
which they also list)."""

PARAM_KIND = {
    "project_id": "project",
    "query_id": "query",
    "release_id": "release",
    "grant_id": "grant",
    "token_id": "token",
}

BODIES: dict[tuple[str, str], dict[str, Any] | None] = {
    ("PATCH", "/datasets/{name}"): {"description": "x", "locations": ["not a url"]},
    ("POST", "/datasets/{name}/versions"): {"digest": "d" * 64, "schema": [], "row_count": 1},
    ("POST", "/projects/{project_id}/members"): {"user": "rita"},
    ("POST", "/projects/{project_id}/grants"): {"dataset": "pmsi_stays"},
    ("PATCH", "/users/{name}"): {"active": False},
    ("POST", "/projects/{project_id}/queries"): {"sql": "SELECT count(*) AS n FROM pmsi_stays"},
    ("POST", "/queries/{query_id}/releases"): {},
    ("POST", "/releases/{release_id}/approve"): {"comment": "ok"},
    ("POST", "/releases/{release_id}/reject"): {"comment": "no"},
    ("POST", "/projects/{project_id}/extracts"): {"dataset": "pmsi_stays"},
    ("PUT", "/projects/{project_id}/disclosure-policy"): {"policy": "opensafely"},
}


def _operations() -> list[tuple[str, str]]:
    document = create_app(cast(Hub, None)).openapi()
    return [(m.upper(), p) for p, ops in document["paths"].items() for m in ops if "{" in p]


@dataclass
class ProjectB:
    """Remy's project and what hangs off it, hidden from most roles."""

    project: int
    query: int
    release: int
    grant: int
    token: int


def _project_b(api: Api, sources: Path) -> ProjectB:
    api.add_user("olga", "output-checker")
    api.add_user("otto", "operator")
    api.ok("POST", "/organizations", "stella", json=org_body())
    api.ok("POST", "/ingests", "stella", json=ingest_body(sources))
    api.ok("POST", "/datasets", "stella", json=dataset_body("secret_ds", discoverable=False))
    b = api.ok("POST", "/projects", "remy", json=project_body(api, "Project B"))["id"]
    api.ok("POST", f"/projects/{b}/approve", "simon")
    grant = api.ok("POST", f"/projects/{b}/grants", "simon", json={"dataset": "pmsi_stays"})
    api.ok("POST", f"/projects/{b}/grants", "simon", json={"dataset": "secret_ds"})
    sql = "SELECT sex, count(*) AS n FROM pmsi_stays GROUP BY 1"
    query = api.ok("POST", f"/projects/{b}/queries", "remy", json={"sql": sql})["query"]["id"]
    release = api.ok("POST", f"/queries/{query}/releases", "remy", json={})["id"]
    token = api.ok("GET", "/tokens", "remy")["items"][0]["id"]
    copy = f"file://{api.hub.config.directory.parent / 'b-copy'}"
    api.ok("POST", "/hub/replicas", "otto", json={"name": "b-copy", "url": copy})
    return ProjectB(b, query, release, grant["id"], token)


def _kind(path: str) -> tuple[str, str]:
    """The kind of object the path names, and the name of its parameter."""
    if path.startswith("/datasets/{name}"):
        return "dataset", "name"
    if path.startswith("/users/{name}"):
        return "user", "name"
    if path.startswith("/hub/replicas/{name}"):
        return "replica", "name"
    first = path.split("{", 1)[1].split("}", 1)[0]
    return PARAM_KIND[first], first


def _paths(path: str, b: ProjectB) -> tuple[str, str, str, str]:
    """(hidden path, missing path, hidden id, missing id) for one operation."""
    kind, param = _kind(path)
    hidden = {
        "project": b.project,
        "query": b.query,
        "release": b.release,
        "grant": b.grant,
        "token": b.token,
        "dataset": "secret_ds",
        "user": "remy",
        "replica": "b-copy",
    }[kind]
    missing: object = MISSING_NAME if isinstance(hidden, str) else MISSING_ID
    fill = {"user": "remy"}  # the second parameter of DELETE .../members/{user}
    hidden_path = path.format(**{**fill, param: hidden})
    missing_path = path.format(**{**fill, param: missing})
    return hidden_path, missing_path, str(hidden), str(missing)


def test_every_path_id_route_is_covered() -> None:
    """A new route with a path id must be added here (its kind, its body)."""
    bodyless = ("/approve", "/suspend", "/reinstate", "/close", "/revoke", "/verify", "/exit-drill")
    for method, path in _operations():
        kind, _ = _kind(path)
        assert kind in HIDDEN_FROM, (method, path)
        if method in ("POST", "PATCH", "PUT"):
            assert (method, path) in BODIES or path.endswith(bodyless), (method, path)


def test_hidden_and_missing_answer_the_same_for_every_role_and_route(
    api: Api, synth_sources: Path
) -> None:
    b = _project_b(api, synth_sources)
    compared = 0
    for method, path in _operations():
        kind, _ = _kind(path)
        hidden_path, missing_path, hidden_id, missing_id = _paths(path, b)
        body = BODIES.get((method, path))
        for role, who in ROLES.items():
            if role not in HIDDEN_FROM[kind] or role in MAY_ACT.get((method, path), ()):
                continue
            seen = api.call(method, hidden_path, who, json=body)
            absent = api.call(method, missing_path, who, json=body)
            case = f"{role} {method} {path}"
            assert seen.status_code == absent.status_code, (case, seen.text, absent.text)
            assert seen.status_code in (403, 404), (case, seen.text)
            if kind not in ("user", "replica"):  # hidden: "not found"; these: a role refusal
                assert seen.status_code == 404, (case, seen.text)
            echoed = absent.content.replace(missing_id.encode(), hidden_id.encode())
            assert seen.content == echoed, (case, seen.text, absent.text)
            for leak in ("Project B", "remy", "visible to"):
                if not (kind == "user" and leak == "remy"):
                    assert leak not in seen.text, (case, seen.text)
            compared += 1
    assert compared > 60


def test_tokens_of_an_unknown_or_a_forbidden_user_read_the_same(api: Api) -> None:
    for who in ("rita", "stella", "aude"):
        for params in ({"user": "remy"}, {"user": "nobody"}):
            name = params["user"]
            listed = api.get("/tokens", who, params=params)
            issued = api.post("/tokens", who, json={"user": name})
            for response in (listed, issued):
                assert response.status_code == 404, response.text
                message = response.json()["error"]["message"]
                assert (
                    message == f"no user {name!r} exists that you may see; check the user you named"
                )
    assert api.get("/tokens", "admin", params={"user": "nobody"}).status_code == 404
    assert api.ok("GET", "/tokens", "admin", params={"user": "remy"})["total"] == 1


@pytest.mark.parametrize("who", ["rita", "stella"])
def test_someone_elses_token_cannot_be_revoked_or_told_apart(api: Api, who: str) -> None:
    theirs = api.ok("GET", "/tokens", "admin", params={"user": "remy"})["items"][0]["id"]
    hidden = api.post(f"/tokens/{theirs}/revoke", who)
    missing = api.post(f"/tokens/{MISSING_ID}/revoke", who)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content.replace(str(MISSING_ID).encode(), str(theirs).encode())
    assert api.get("/me", "remy").status_code == 200  # still works
