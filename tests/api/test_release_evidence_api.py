"""Issue 11, section 1, through HTTP: the hub computes the evidence of every released cell.

A researcher with a valid token tries the attacks on the synthetic stays
(ingested, so the catalog names the person column), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.api.conftest import Api, assert_error
from tests.api.helpers import project_body, published_project

BY_SEX = "SELECT sex, count(*) AS n_stays FROM pmsi_stays {where} GROUP BY sex ORDER BY sex"


def release(api: Api, pid: int, sql: str, body: dict[str, Any] | None = None) -> Any:
    run = api.ok("POST", f"/projects/{pid}/queries", "rita", json={"sql": sql, "preview_rows": 0})
    return api.ok("POST", f"/queries/{run['query']['id']}/releases", "rita", json=body or {})


def rules(r: Any) -> dict[str, int]:
    return dict(r["report"]["findings_per_rule"])


def test_researchers_cannot_choose_the_policy(api: Api, synth_sources: Path) -> None:
    pid = published_project(api, synth_sources)
    run = api.ok("POST", f"/projects/{pid}/queries", "rita", json={"sql": BY_SEX.format(where="")})
    asked = api.post(
        f"/queries/{run['query']['id']}/releases", "rita", json={"policy": "opensafely"}
    )
    assert_error(asked, 422, "invalid_request")
    denied = api.call(
        "PUT", f"/projects/{pid}/disclosure-policy", "rita", json={"policy": "opensafely"}
    )
    assert_error(denied, 403, "permission_denied")
    assert api.ok("GET", f"/projects/{pid}/disclosure-policy", "rita")["policy"] == "sacro"
    bad = api.call("PUT", f"/projects/{pid}/disclosure-policy", "simon", json={"policy": "none"})
    assert_error(bad, 422, "invalid_request")
    set_ = api.ok(
        "PUT",
        f"/projects/{pid}/disclosure-policy",
        "simon",
        json={"policy": "opensafely", "order_statistics": True},
    )
    assert set_ == {"project_id": pid, "policy": "opensafely", "order_statistics": True}
    checked = release(api, pid, BY_SEX.format(where=""))
    assert checked["policy"] == "opensafely"


def test_a_steward_sets_the_policy_at_approval(api: Api) -> None:
    project = api.ok("POST", "/projects", "rita", json=project_body(api, "Ages"))
    pid = project["id"]
    path = f"/projects/{pid}/approve"
    assert_error(api.call("POST", path, "simon", json={"policy": "none"}), 422, "invalid_request")
    alone = api.call("POST", path, "simon", json={"order_statistics": True})
    assert_error(alone, 422, "invalid_request")
    assert api.ok("GET", f"/projects/{pid}", "simon")["status"] == "submitted"
    denied = api.call("POST", path, "rita", json={"policy": "opensafely"})
    assert_error(denied, 403, "permission_denied")
    approved = api.ok("POST", path, "simon", json={"policy": "opensafely"})
    assert approved["status"] == "approved"
    policy = api.ok("GET", f"/projects/{pid}/disclosure-policy", "rita")
    assert policy == {"project_id": pid, "policy": "opensafely", "order_statistics": False}


def test_the_attacks_of_the_issue_do_not_get_out(api: Api, synth_sources: Path) -> None:
    pid = published_project(api, synth_sources)
    faked = release(
        api,
        pid,
        "SELECT sex, count(*) AS n_stays, 100 AS n_persons FROM pmsi_stays GROUP BY sex",
    )
    assert faked["status"] == "pending" and faked["report"]["evidence_verified"] is False
    assert rules(faked).get("evidence-not-verified")
    per_person = release(
        api, pid, "SELECT person_id, count(*) AS n FROM pmsi_stays GROUP BY person_id"
    )
    assert per_person["status"] == "rejected"
    oldest = release(
        api, pid, "SELECT sex, max(length(main_diagnosis)) AS m FROM pmsi_stays GROUP BY sex"
    )
    assert oldest["status"] == "pending" and rules(oldest).get("order-statistic")
    windowed = release(api, pid, "SELECT sex, count(*) OVER (PARTITION BY sex) FROM pmsi_stays")
    assert windowed["status"] == "rejected"
    union = release(
        api,
        pid,
        "SELECT sex, count(*) AS n FROM pmsi_stays GROUP BY sex UNION ALL "
        "SELECT 'all' AS sex, count(*) FROM pmsi_stays WHERE stay_id > 'S0000000100'",
    )
    assert union["status"] == "pending" and rules(union).get("evidence-not-verified")
    assert_error(api.get(f"/releases/{union['id']}/output", "rita"), 404, "not_found")


def test_differencing_is_held_naming_the_earlier_release(api: Api, synth_sources: Path) -> None:
    pid = published_project(api, synth_sources)
    first = release(api, pid, BY_SEX.format(where=""))
    assert first["status"] == "released", first["report"]
    # a birth date only one person has: filtering on it takes exactly that person out
    run = api.ok(
        "POST",
        f"/projects/{pid}/queries",
        "rita",
        json={
            "sql": "SELECT birth_date FROM pmsi_stays GROUP BY birth_date "
            "HAVING count(DISTINCT person_id) = 1 ORDER BY birth_date LIMIT 1"
        },
    )
    lonely = run["rows"][0][0]
    second = release(api, pid, BY_SEX.format(where=f"WHERE birth_date <> '{lonely}'"))
    assert second["status"] == "pending" and rules(second).get("differencing")
    named = {f["value"] for f in second["report"]["findings"] if f["rule"] == "differencing"}
    assert first["id"] in named
