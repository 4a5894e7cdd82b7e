"""Issue 6's story through HTTP: queries in the sandbox, refused escapes, checked releases."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from passerelle.api.downloads import attachment
from tests.api.conftest import SQLITE_ONLY, Api, assert_error
from tests.api.helpers import published_project

SMALL_CELL_SQL = (  # stays by sex and age group, with a "rare" group of a few stays
    "SELECT sex, CASE WHEN stay_id < 'S0000000004' THEN 'rare' "
    "WHEN birth_date < '1960' THEN 'before 1960' WHEN birth_date < '1990' THEN '1960-1989' "
    "ELSE '1990 on' END AS age_group, "
    "count(*) AS n_stays, count(DISTINCT person_id) AS n_persons "
    "FROM pmsi_stays GROUP BY ALL ORDER BY ALL"
)
BY_SEX_SQL = (
    "SELECT sex, count(*) AS n_stays, count(DISTINCT person_id) AS n_persons "
    "FROM pmsi_stays GROUP BY sex ORDER BY sex"
)


def released_counts(api: Api, release_id: int, who: str) -> dict[str, list[object]]:
    response = api.get(f"/releases/{release_id}/output", who)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == attachment(f"release-{release_id}.csv")
    return pacsv.read_csv(io.BytesIO(response.content)).to_pydict()  # type: ignore[no-any-return]


def audit_of(api: Api, actor: str, project: int) -> list[dict[str, object]]:
    params = {"actor": actor, "project": project, "limit": 1000}
    return list(api.ok("GET", "/audit/events", "aude", params=params)["items"])


def test_the_research_story(api: Api, synth_sources: Path) -> None:
    api.add_user("olga", "output-checker")
    api.add_user("bob", "researcher", "output-checker")
    pid = published_project(api, synth_sources)
    api.ok("POST", f"/projects/{pid}/members", "rita", json={"user": "bob"})

    # The researcher counts stays; the full table stays in the workspace.
    run = api.ok("POST", f"/projects/{pid}/queries", "rita", json={"sql": SMALL_CELL_SQL})
    query = run["query"]
    assert query["project_id"] == pid and query["user"] == "rita"
    assert query["datasets"] == ["pmsi_stays"] and query["rows"] == len(run["rows"]) == 8
    assert [c["name"] for c in run["columns"]] == ["sex", "age_group", "n_stays", "n_persons"]
    assert min(row[2] for row in run["rows"]) < 10  # the small cell is visible inside
    assert api.ok("GET", f"/queries/{query['id']}", "rita") == query
    listed = api.ok("GET", f"/projects/{pid}/queries", "rita")
    assert listed["total"] == 1 and listed["items"][0]["id"] == query["id"]

    # Reading a file directly is refused with the rule's reason, and audited.
    refused = api.post(
        f"/projects/{pid}/queries", "rita", json={"sql": "SELECT * FROM read_csv('/etc/passwd')"}
    )
    error = assert_error(refused, 403, "permission_denied")
    assert error["reason"] and "root:" not in refused.text
    denied = [
        e
        for e in audit_of(api, "rita", pid)
        if e["action"] == "query.run" and e["decision"] == "denied"
    ]
    assert denied and denied[-1]["details"]["reason"] == error["reason"]  # type: ignore[index]

    # A release with a small cell waits for an output-checker.
    release = api.ok("POST", f"/queries/{query['id']}/releases", "rita", json={})
    assert release["status"] == "pending" and release["output_key"] is None
    assert release["report"]["findings_per_rule"].get("threshold")
    assert_error(api.get(f"/releases/{release['id']}/output", "rita"), 404, "not_found")
    # The requester cannot approve (not a checker); a checker cannot approve their own request.
    assert_error(api.post(f"/releases/{release['id']}/approve", "rita"), 403, "permission_denied")
    own = api.ok("POST", f"/queries/{query['id']}/releases", "bob", json={})
    two_person = api.post(f"/releases/{own['id']}/approve", "bob", json={"comment": "mine"})
    assert "two-person" in assert_error(two_person, 403, "permission_denied")["message"]

    approved = api.ok(
        "POST", f"/releases/{release['id']}/approve", "olga", json={"comment": "small cells gone"}
    )
    assert approved["status"] == "released" and approved["decided_by"] == "olga"
    assert approved["comment"] == "small cells gone"
    out = released_counts(api, release["id"], "rita")
    counts = [v for v in out["n_stays"] + out["n_persons"] if v is not None]
    assert counts and min(counts) >= 10  # type: ignore[type-var]
    assert None in out["n_stays"]  # suppressed, not shown
    assert "top1" not in out and "suppressed" not in out
    assert_error(api.post(f"/releases/{release['id']}/reject", "olga"), 409, "conflict")
    rejected = api.ok("POST", f"/releases/{own['id']}/reject", "olga")
    assert rejected["status"] == "rejected"
    assert_error(api.get(f"/releases/{own['id']}/output", "bob"), 404, "not_found")

    releases = api.ok("GET", f"/projects/{pid}/releases", "rita")
    assert [r["id"] for r in releases["items"]] == [release["id"], own["id"]]
    assert api.ok("GET", f"/releases/{release['id']}", "olga")["status"] == "released"

    # The escape attempt shows up in the audit export too.
    export = api.get("/audit/export", "aude", params={"format": "jsonl", "actor": "rita"})
    assert '"query.run"' in export.text and '"denied"' in export.text
    assert api.ok("GET", "/audit/verify", "aude")["ok"] is True


@SQLITE_ONLY
def test_a_clean_table_is_released_at_once(api: Api, synth_sources: Path) -> None:
    pid = published_project(api, synth_sources)
    run = api.ok("POST", f"/projects/{pid}/queries", "rita", json={"sql": BY_SEX_SQL})
    api.ok("PUT", f"/projects/{pid}/disclosure-policy", "simon", json={"policy": "opensafely"})
    release = api.ok("POST", f"/queries/{run['query']['id']}/releases", "rita", json={})
    assert release["status"] == "released", release["report"]
    out = released_counts(api, release["id"], "rita")
    assert [row[1] for row in run["rows"]] != out["n_stays"]  # rounded to 5
    assert all(v % 5 == 0 for v in out["n_stays"])  # type: ignore[operator]


@SQLITE_ONLY
def test_row_level_results_are_refused_for_good(api: Api, synth_sources: Path) -> None:
    pid = published_project(api, synth_sources)
    run = api.ok(
        "POST",
        f"/projects/{pid}/queries",
        "rita",
        json={"sql": "SELECT person_id, sex FROM pmsi_stays", "preview_rows": 0},
    )
    assert run["rows"] == [] and run["query"]["rows"] > 100
    release = api.ok("POST", f"/queries/{run['query']['id']}/releases", "rita", json={})
    assert release["status"] == "rejected"


@SQLITE_ONLY
def test_results_as_json_pages_csv_and_parquet(api: Api, synth_sources: Path) -> None:
    pid = published_project(api, synth_sources)
    sql = (
        "SELECT stay_id, admission_date, 1.5::DECIMAL(10, 2) AS price, 'nan'::DOUBLE AS x, "
        "TIMESTAMP '2026-01-02 03:04:05' AS at, [1, 2] AS pair "
        "FROM pmsi_stays ORDER BY stay_id LIMIT 25"
    )
    run = api.ok("POST", f"/projects/{pid}/queries", "rita", json={"sql": sql, "preview_rows": 2})
    assert len(run["rows"]) == 2 and run["query"]["rows"] == 25
    stay, admitted, price, nan, at, pair = run["rows"][0]
    assert stay == "S0000000000" and len(admitted) == 10 and admitted[4] == "-"
    assert price == "1.50" and nan == "NaN" and at == "2026-01-02T03:04:05.000000"
    assert pair == [1, 2]
    qid = run["query"]["id"]

    page = api.ok("GET", f"/queries/{qid}/result", "rita", params={"limit": 10, "offset": 20})
    assert page["total"] == 25 and len(page["rows"]) == 5 and page["offset"] == 20
    first = api.ok("GET", f"/queries/{qid}/result", "rita", params={"limit": 2})
    assert first["rows"] == run["rows"]

    parquet = api.get(f"/queries/{qid}/result", "rita", params={"format": "parquet"})
    assert parquet.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == 25 and table.column_names[0] == "stay_id"

    # CSV cannot hold the list column: one sentence, not a crash.
    nested = api.get(f"/queries/{qid}/result", "rita", params={"format": "csv"})
    assert "format=json" in assert_error(nested, 422, "invalid_request")["message"]
    flat = api.ok(
        "POST",
        f"/projects/{pid}/queries",
        "rita",
        json={"sql": "SELECT stay_id, sex FROM pmsi_stays ORDER BY stay_id LIMIT 3"},
    )
    csv = api.get(f"/queries/{flat['query']['id']}/result", "rita", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == '"stay_id","sex"' and len(csv.text.splitlines()) == 4


@SQLITE_ONLY
def test_outsiders_see_nothing_of_another_project(api: Api, synth_sources: Path) -> None:
    pid = published_project(api, synth_sources)
    run = api.ok("POST", f"/projects/{pid}/queries", "rita", json={"sql": BY_SEX_SQL})
    qid = run["query"]["id"]
    release = api.ok("POST", f"/queries/{qid}/releases", "rita", json={})
    for path in (
        f"/projects/{pid}/queries",
        f"/queries/{qid}",
        f"/queries/{qid}/result",
        f"/projects/{pid}/releases",
        f"/releases/{release['id']}",
        f"/releases/{release['id']}/output",
    ):
        assert_error(api.get(path, "remy"), 404, "not_found")
    outsider = api.post(f"/projects/{pid}/queries", "remy", json={"sql": BY_SEX_SQL})
    assert_error(outsider, 404, "not_found")
    assert_error(api.post(f"/queries/{qid}/releases", "remy", json={}), 404, "not_found")
    assert_error(api.get("/queries/999999", "rita"), 404, "not_found")


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sql": ""}, "body.sql"),
        ({"sql": "SELECT 1", "max_rows": 0}, "body.max_rows"),
        ({"sql": "SELECT 1", "max_rows": 100_001}, "body.max_rows"),
        ({"sql": "SELECT 1", "timeout_s": 301}, "body.timeout_s"),
        ({"sql": "SELECT 1", "preview_rows": 1001}, "body.preview_rows"),
        ({"sql": "SELECT 1", "limit": 3}, "body.limit"),
        ({"sql": "SELECT \x00"}, "body.sql"),
    ],
)
def test_query_bodies_are_checked(api: Api, body: dict[str, object], field: str) -> None:
    error = assert_error(api.post("/projects/1/queries", "rita", json=body), 422, "invalid_request")
    assert error["fields"][0]["location"] == field


@SQLITE_ONLY
def test_sql_duckdb_cannot_run_is_422_with_its_reason(api: Api, synth_sources: Path) -> None:
    pid = published_project(api, synth_sources)
    for sql in ("SELEC 1", "SELECT no_such_column FROM pmsi_stays", "SELECT * FROM nowhere"):
        response = api.post(f"/projects/{pid}/queries", "rita", json={"sql": sql})
        assert response.status_code in (403, 422), (sql, response.text)
        code = "invalid_request" if response.status_code == 422 else "permission_denied"
        assert assert_error(response, response.status_code, code)["reason"]
