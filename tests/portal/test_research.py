"""The researcher's and output checker's stories in the portal: a query run from the editor,
its result paged, a refusal shown as the rule's sentence, a release asked for, and a checker
approving it (never their own); XSS through the SQL text and the checker's reason."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from passerelle.api.downloads import attachment
from tests.api.conftest import Api
from tests.api.helpers import published_project
from tests.api.test_research_api import SMALL_CELL_SQL
from tests.portal.conftest import csrf_of

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def _run(client: Any, pid: int, sql: str) -> Any:
    page = client.get(f"/portal/projects/{pid}/queries")
    assert page.status_code == 200, page.text
    return client.post(
        f"/portal/projects/{pid}/queries",
        data={"sql": sql, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )


def _no_live_markup(text: str) -> None:
    assert "<script>alert" not in text and "<img src=x" not in text
    assert not re.search(r"<[^>]*\bonerror\s*=", text)


def test_a_researcher_queries_asks_for_a_release_and_a_checker_approves(
    api: Api, browser: Any, synth_sources: Path
) -> None:
    api.add_user("olga", "output-checker")
    pid = published_project(api, synth_sources)
    rita = browser("rita")
    ran = _run(rita, pid, SMALL_CELL_SQL)
    assert ran.status_code == 303, ran.text
    query_url = ran.headers["location"]
    page = rita.get(query_url)
    assert page.status_code == 200 and "8 rows" in page.text and "age_group" in page.text
    assert "n_persons" in page.text
    listed = rita.get(f"/portal/projects/{pid}/queries")
    assert query_url.rsplit("/", 1)[1] in listed.text

    asked = rita.post(
        f"{query_url}/release", data={"csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert asked.status_code == 303
    release_url = asked.headers["location"]
    mine = rita.get(release_url)
    assert "pending" in mine.text and "threshold" in mine.text  # the report: what was flagged
    assert "Approve" not in mine.text  # not a checker: no decision form
    forged = rita.post(
        f"{release_url}/decide",
        data={"csrf": csrf_of(mine.text), "decision": "approve"},
        follow_redirects=False,
    )
    assert forged.status_code == 403  # the API's refusal, by the same rule
    assert "only an output-checker may approve or reject a release" in forged.text

    olga = browser("olga")
    queue = olga.get("/portal/releases")
    assert release_url in queue.text and "may decide" in queue.text
    assert api.ok("GET", "/releases/pending", "olga")["items"][0]["decidable"] is True
    review = olga.get(release_url)
    assert "Approve and release" in review.text
    approved = olga.post(
        f"{release_url}/decide",
        data={"csrf": csrf_of(review.text), "decision": "approve", "reason": XSS},
        follow_redirects=False,
    )
    assert approved.status_code == 303
    done = olga.get(release_url)
    assert "released" in done.text and "olga" in done.text
    _no_live_markup(done.text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in done.text
    output = rita.get(f"{release_url}/output.csv")
    assert output.status_code == 200 and output.headers["content-type"].startswith("text/csv")
    assert output.headers["cache-control"] == "no-store"  # released health data, not cached
    release_id = release_url.rstrip("/").rsplit("/", 1)[-1]
    disposition = attachment(f"release-{release_id}.csv")  # one safe line, RFC 5987 twin too
    assert output.headers["content-disposition"] == disposition
    assert "No release is waiting" in olga.get("/portal/releases").text


def test_a_checker_never_decides_their_own_request(
    api: Api, browser: Any, synth_sources: Path
) -> None:
    api.add_user("bob", "researcher", "output-checker")
    pid = published_project(api, synth_sources)
    api.ok("POST", f"/projects/{pid}/members", "rita", json={"user": "bob"})
    bob = browser("bob")
    page = bob.get(_run(bob, pid, SMALL_CELL_SQL).headers["location"])
    asked = bob.post(
        f"/portal/queries/{page.url.path.rsplit('/', 1)[1]}/release",
        data={"csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    release_url = asked.headers["location"]
    own = bob.get(release_url)
    assert "Approve and release" not in own.text and "two-person rule" in own.text
    assert "two-person rule" in bob.get("/portal/releases").text
    forged = bob.post(
        f"{release_url}/decide",
        data={"csrf": csrf_of(own.text), "decision": "approve"},
        follow_redirects=False,
    )
    assert forged.status_code == 403 and "two-person rule" in forged.text
    assert api.ok("GET", release_url.replace("/portal", ""), "bob")["status"] == "pending"


def test_a_refused_query_is_the_rules_sentence_with_the_sql_kept(
    api: Api, browser: Any, synth_sources: Path
) -> None:
    pid = published_project(api, synth_sources)
    rita = browser("rita")
    sql = "SELECT * FROM read_csv('/etc/passwd') -- " + XSS
    answer = _run(rita, pid, sql)
    expected = api.post(f"/projects/{pid}/queries", "rita", json={"sql": sql})
    assert answer.status_code == expected.status_code == 403
    assert "root:" not in answer.text
    assert expected.json()["error"]["message"].split(";")[0].replace("'", "&#39;") in answer.text
    assert "read_csv(&#39;/etc/passwd&#39;)" in answer.text  # the SQL is kept in the editor
    _no_live_markup(answer.text)


def test_stored_xss_through_the_sql_text_renders_as_text(
    api: Api, browser: Any, synth_sources: Path
) -> None:
    pid = published_project(api, synth_sources)
    rita = browser("rita")
    sql = f"SELECT '{XSS}' AS label, count(*) AS n FROM pmsi_stays"
    ran = _run(rita, pid, sql)
    assert ran.status_code == 303, ran.text
    for url in (ran.headers["location"], f"/portal/projects/{pid}/queries"):
        page = rita.get(url)
        assert page.status_code == 200
        _no_live_markup(page.text)


def test_forms_without_the_session_token_are_refused(
    api: Api, browser: Any, synth_sources: Path
) -> None:
    pid = published_project(api, synth_sources)
    rita = browser("rita")
    for url, data in (
        (f"/portal/projects/{pid}/queries", {"sql": "SELECT 1"}),
        (f"/portal/projects/{pid}/queries", {"sql": "SELECT 1", "csrf": "f" * 64}),
        ("/portal/queries/1/release", {"csrf": ""}),
        ("/portal/releases/1/decide", {"csrf": "x", "decision": "approve"}),
    ):
        answer = rita.post(url, data=data, follow_redirects=False)
        assert answer.status_code in (403, 422), (url, answer.status_code)
        assert "Traceback" not in answer.text
    assert api.ok("GET", f"/projects/{pid}/queries", "rita")["total"] == 0  # nothing ran


def test_another_projects_queries_and_results_are_the_apis_404(
    api: Api, browser: Any, synth_sources: Path
) -> None:
    pid = published_project(api, synth_sources)
    run = api.ok("POST", f"/projects/{pid}/queries", "rita", json={"sql": SMALL_CELL_SQL})
    qid = run["query"]["id"]
    remy = browser("remy")
    for url, api_url in (
        (f"/portal/queries/{qid}", f"/queries/{qid}"),
        (f"/portal/projects/{pid}/queries", f"/projects/{pid}"),
        (f"/portal/projects/{pid}/releases", f"/projects/{pid}/releases"),
    ):
        answer = remy.get(url)
        expected = api.get(api_url, "remy")
        assert answer.status_code == expected.status_code == 404, url
        assert "Sepsis" not in answer.text


def test_only_output_checkers_read_the_withheld_numbers(
    api: Api, browser: Any, synth_sources: Path
) -> None:
    api.add_user("olga", "output-checker")
    pid = published_project(api, synth_sources)
    run = api.ok("POST", f"/projects/{pid}/queries", "rita", json={"sql": SMALL_CELL_SQL})
    release = api.ok("POST", f"/queries/{run['query']['id']}/releases", "rita", json={})
    withheld = "below the minimum of 10"
    for who in ("stella", "admin", "rita"):  # barred from the raw result, or its requester
        seen = api.ok("GET", f"/releases/{release['id']}", who)["report"]
        assert seen["findings"] and all(
            set(f) <= {"rule", "action", "cell", "column"} for f in seen["findings"]
        )
        page = browser(who).get(f"/portal/releases/{release['id']}")
        assert page.status_code == 200 and withheld not in page.text, who
        assert "fewer persons or counts behind the cell" in page.text  # the rule, not the number
    assert withheld not in str(api.ok("GET", f"/projects/{pid}/releases", "stella"))
    checker = api.ok("GET", f"/releases/{release['id']}", "olga")["report"]
    assert any(withheld in str(f.get("detail")) for f in checker["findings"])
    assert withheld in browser("olga").get(f"/portal/releases/{release['id']}").text
