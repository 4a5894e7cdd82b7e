"""The steward's pages: ingests with counts and quarantine reasons by kind, projects to
approve, status changes and grants from the project page, each through the library's
rules (a researcher is refused the same way as by the API) and with its CSRF value."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from markupsafe import escape

from tests.api.conftest import Api
from tests.api.helpers import catalog, ingest_body, org_body, project_body
from tests.portal.conftest import csrf_of

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'&'


def _no_live_markup(text: str) -> None:
    assert "<script>alert" not in text and "<img src=x" not in text
    assert not re.search(r"<[^>]*\bonerror\s*=", text)


def test_ingests_show_counts_and_reasons_by_kind(
    api: Api, browser: Any, synth_sources: Path
) -> None:
    api.ok("POST", "/organizations", "stella", json=org_body())
    report = api.ok("POST", "/ingests", "stella", json=ingest_body(synth_sources))
    client = browser("stella")
    home = client.get("/portal/")
    assert 'href="/portal/ingests"' in home.text
    assert 'href="/portal/projects?status=submitted"' in home.text
    page = client.get("/portal/ingests")
    assert page.status_code == 200
    assert f"{report['rows_in']:,}" in page.text and f"{report['rows_accepted']:,}" in page.text
    for reason, _ in report["reasons"]:
        kind, _, where = reason.partition(":")
        assert f"<code>{kind}</code>" in page.text and where in page.text
    entry = client.get("/portal/catalog/pmsi_stays")
    assert "Versions" in entry.text and "rows quarantined of" in entry.text
    assert "<dt>Period covered</dt><dd>not declared</dd>" in entry.text
    api.ok("PATCH", "/datasets/pmsi_stays", "stella", json={"covers": "2015-01-01/"})
    entry = client.get("/portal/catalog/pmsi_stays")
    assert "<dt>Period covered</dt><dd>2015-01-01 to now (ongoing)</dd>" in entry.text
    assert 'href="/portal/ingests?dataset=pmsi_stays"' in entry.text
    filtered = client.get("/portal/ingests", params={"dataset": "pmsi_stays"})
    assert "1 run of" in filtered.text
    assert "0 runs" in client.get("/portal/ingests", params={"dataset": "other"}).text


def test_a_researcher_sees_no_steward_section_and_is_refused_the_record(
    api: Api, browser: Any
) -> None:
    client = browser("rita")
    assert "/portal/ingests" not in client.get("/portal/").text
    answer = client.get("/portal/ingests")
    expected = api.get("/ingests", "rita")
    assert answer.status_code == expected.status_code == 403
    assert str(escape(expected.json()["error"]["message"])) in answer.text
    bad = client.get("/portal/ingests", params={"dataset": "a/b"})
    assert bad.status_code == 422 and "Traceback" not in bad.text


def test_a_steward_approves_grants_and_revokes_from_the_project_page(
    api: Api, browser: Any
) -> None:
    catalog(api)
    pid = api.ok("POST", "/projects", "rita", json=project_body(api, title=XSS))["id"]
    stella = browser("stella")
    waiting = stella.get("/portal/projects", params={"status": "submitted"})
    assert "Projects to approve" in waiting.text and f"/portal/projects/{pid}" in waiting.text
    _no_live_markup(waiting.text)
    page = stella.get(f"/portal/projects/{pid}")
    _no_live_markup(page.text)
    assert 'value="approve"' in page.text and "Grant a dataset" not in page.text  # not yet
    done = stella.post(
        f"/portal/projects/{pid}/status",
        data={"csrf": csrf_of(page.text), "verb": "approve"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/portal/projects/{pid}"
    assert api.ok("GET", f"/projects/{pid}", "rita")["status"] == "approved"

    page = stella.get(f"/portal/projects/{pid}")
    assert 'value="approve"' not in page.text and 'value="suspend"' in page.text
    granted = stella.post(
        f"/portal/projects/{pid}/grants",
        data={"csrf": csrf_of(page.text), "dataset": "pmsi_mco", "columns": "age, diag"},
        follow_redirects=False,
    )
    assert granted.status_code == 303, granted.text
    grants = api.ok("GET", f"/projects/{pid}/grants", "stella")["items"]
    assert [(g["dataset"], g["columns"]) for g in grants] == [("pmsi_mco", ["age", "diag"])]

    page = stella.get(f"/portal/projects/{pid}")
    assert f'action="/portal/grants/{grants[0]["id"]}/revoke"' in page.text
    revoked = stella.post(
        f"/portal/grants/{grants[0]['id']}/revoke",
        data={"csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    assert api.ok("GET", f"/projects/{pid}/grants", "stella")["items"][0]["revoked"] is True
    events = api.ok("GET", "/audit/events", "aude", params={"actor": "stella", "limit": 1000})
    actions = {e["action"] for e in events["items"] if e["decision"] == "allowed"}
    assert {"project.approve", "grant.create", "grant.revoke"} <= actions


def test_the_forms_refuse_without_csrf_and_researchers_get_the_librarys_refusal(
    api: Api, browser: Any
) -> None:
    catalog(api)
    pid = api.ok("POST", "/projects", "rita", json=project_body(api))["id"]
    stella = browser("stella")
    stella.get(f"/portal/projects/{pid}")
    for url, data in (
        (f"/portal/projects/{pid}/status", {"verb": "approve"}),
        (f"/portal/projects/{pid}/status", {"verb": "approve", "csrf": "forged"}),
        (f"/portal/projects/{pid}/grants", {"dataset": "pmsi_mco", "csrf": "forged"}),
        ("/portal/grants/1/revoke", {"csrf": "forged"}),
    ):
        answer = stella.post(url, data=data, follow_redirects=False)
        assert answer.status_code in (403, 422), (url, answer.status_code)
    assert api.ok("GET", f"/projects/{pid}", "rita")["status"] == "submitted"

    rita = browser("rita")
    page = rita.get(f"/portal/projects/{pid}")
    assert 'value="approve"' not in page.text  # offered only what rules.decide allows
    answer = rita.post(
        f"/portal/projects/{pid}/status",
        data={"csrf": csrf_of(page.text, "csrf"), "verb": "approve"},
        follow_redirects=False,
    )
    expected = api.post(f"/projects/{pid}/approve", "rita")
    assert answer.status_code == expected.status_code == 403
    assert str(escape(expected.json()["error"]["message"])) in answer.text
    remy = browser("remy")  # not in the project: the same 404 as the API
    page = remy.get("/portal/projects")
    answer = remy.post(
        f"/portal/projects/{pid}/status",
        data={"csrf": csrf_of(page.text, "csrf"), "verb": "close"},
        follow_redirects=False,
    )
    assert answer.status_code == api.post(f"/projects/{pid}/close", "remy").status_code == 404


def test_bad_grant_values_are_one_sentence_and_grant_nothing(api: Api, browser: Any) -> None:
    catalog(api)
    pid = api.ok("POST", "/projects", "rita", json=project_body(api))["id"]
    api.ok("POST", f"/projects/{pid}/approve", "simon")
    stella = browser("stella")
    token = csrf_of(stella.get(f"/portal/projects/{pid}").text)
    for data, status in (
        ({"dataset": "pmsi_mco", "expires_on": "tomorrow"}, 422),
        ({"dataset": "pmsi_mco", "expires_on": "2999-01-01"}, 422),  # past the project's end
        ({"dataset": "no_such"}, 404),
        ({"dataset": XSS}, 404),  # the API's answer too; the name is echoed as text
        ({"dataset": "pmsi_mco", "columns": "age,\x00"}, 422),
        ({"dataset": "pmsi_mco", "columns": "nope"}, 422),
        ({"dataset": "pmsi_mco", "verb": "x"}, None),  # extra fields are ignored, not errors
    ):
        answer = stella.post(
            f"/portal/projects/{pid}/grants", data={"csrf": token, **data}, follow_redirects=False
        )
        if status is None:
            assert answer.status_code == 303
            continue
        assert answer.status_code == status, (data, answer.status_code, answer.text)
        assert "Traceback" not in answer.text
        _no_live_markup(answer.text)
        message = re.search(r'<p class="error"[^>]*>(.*?)</p>', answer.text, re.S)
        assert message and message.group(1).strip(), answer.text
    assert len(api.ok("GET", f"/projects/{pid}/grants", "stella")["items"]) == 1


def test_a_markup_source_path_renders_as_text(
    api: Api, browser: Any, synth_sources: Path, tmp_path: Path
) -> None:
    odd = tmp_path / f"{XSS.replace('/', '_')}.csv"
    shutil.copy(synth_sources / "stays.csv", odd)
    api.ok("POST", "/organizations", "stella", json=org_body())
    api.ok("POST", "/ingests", "stella", json=ingest_body(tmp_path, source_url=f"file://{odd}"))
    page = browser("aude").get("/portal/ingests")
    assert page.status_code == 200 and "&lt;script&gt;" in page.text
    _no_live_markup(page.text)


def test_closing_a_project_asks_for_confirmation_first(api: Api, browser: Any) -> None:
    catalog(api)
    pid = api.ok("POST", "/projects", "rita", json=project_body(api))["id"]
    api.ok("POST", f"/projects/{pid}/approve", "simon")
    stella = browser("stella")
    page = stella.get(f"/portal/projects/{pid}")
    assert f'href="/portal/projects/{pid}/close"' in page.text and 'value="close"' not in page.text
    confirm = stella.get(f"/portal/projects/{pid}/close")
    assert "Closing is for good" in confirm.text and 'value="close"' in confirm.text
    assert api.ok("GET", f"/projects/{pid}", "rita")["status"] == "approved"  # nothing yet
    done = stella.post(
        f"/portal/projects/{pid}/status",
        data={"csrf": csrf_of(confirm.text), "verb": "close"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert api.ok("GET", f"/projects/{pid}", "rita")["status"] == "closed"
    assert browser("remy").get(f"/portal/projects/{pid}/close").status_code == 404
