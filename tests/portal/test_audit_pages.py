"""The auditor's pages: the timeline with its filters and paging, verifying the chain (and
seeing it fail once an event is altered), and where each dataset lives; hostile text in
the log's details, and the other roles kept out by the API's rule."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import escape

from tests.api.conftest import Api
from tests.api.helpers import catalog

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def _no_live_markup(text: str) -> None:
    assert "<script>alert" not in text and "<img src=x" not in text
    assert not re.search(r"<[^>]*\bonerror\s*=", text)


def _rows(html: str) -> list[list[str]]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return [
        re.findall(r"<td>(.*?)</td>", row, re.S) for row in body.split("</tr>") if "<td>" in row
    ]


def test_an_auditor_filters_the_timeline_and_pages_through_it(api: Api, browser: Any) -> None:
    catalog(api)
    rita = browser("rita")
    for _ in range(3):
        assert rita.get("/portal/audit").status_code == 403  # three denied reads of the log
    rita.get("/portal/catalog", params={"q": XSS})  # hostile text lands in the log's details
    aude = browser("aude")
    home = aude.get("/portal/")
    assert 'href="/portal/audit"' in home.text and 'href="/portal/compliance"' in home.text
    everything = aude.get("/portal/audit")
    assert everything.status_code == 200
    _no_live_markup(everything.text)
    denied = aude.get("/portal/audit", params={"actor": "rita", "decision": "denied", "action": ""})
    rows = _rows(denied.text)
    assert len(rows) == 3 and all(r[2] == "rita" and r[5] == "denied" for r in rows)
    family = _rows(aude.get("/portal/audit", params={"action": "dataset."}).text)
    assert family and all(r[3].startswith("dataset.") for r in family)
    expected = api.ok("GET", "/audit/events?actor=rita&decision=denied", "aude")["items"]
    assert [int(r[0]) for r in rows] == [e["seq"] for e in expected]  # the API's own answer

    # more than a page: the next link continues after the last event shown
    for _ in range(60):
        rita.get("/portal/catalog")
    first = aude.get("/portal/audit", params={"actor": "rita"})
    shown = [int(r[0]) for r in _rows(first.text)]
    assert len(shown) == 50
    following = re.search(r'href="(/portal/audit\?[^"]+)">Next events', first.text)
    assert following
    second = aude.get(following.group(1).replace("&amp;", "&"))
    more = [int(r[0]) for r in _rows(second.text)]
    assert more and min(more) > max(shown)


def test_bad_filters_are_one_sentence(browser: Any) -> None:
    aude = browser("aude")
    for params in (
        {"project": "abc"},
        {"since": "yesterday"},
        {"decision": "maybe"},
        {"actor": "a\x01"},
    ):
        answer = aude.get("/portal/audit", params=params)
        assert answer.status_code == 422, params
        assert "is not valid" in answer.text and "Traceback" not in answer.text
    unknown = aude.get("/portal/audit", params={"dataset": "never_was"})
    assert unknown.status_code in (404, 422) and "Traceback" not in unknown.text


def test_verify_says_intact_then_names_the_altered_event(api: Api, browser: Any) -> None:
    aude = browser("aude")
    ok = aude.get("/portal/audit/verify")
    assert ok.status_code == 200 and "The chain is intact" in ok.text
    from sqlalchemy import text

    engine = api.hub.db.engine
    with engine.begin() as connection:  # someone holding the database edits a row
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_events_no_update"))
        connection.execute(text("UPDATE audit_events SET actor = 'nobody' WHERE seq = 2"))
    broken = aude.get("/portal/audit/verify")
    assert "does not verify from event #2" in broken.text
    assert api.ok("GET", "/audit/verify", "aude")["ok"] is False


def test_where_each_dataset_lives(api: Api, browser: Any) -> None:
    catalog(api)
    page = browser("aude").get("/portal/compliance")
    assert (
        page.status_code == 200 and "pmsi_mco" in page.text and "health-pseudonymized" in page.text
    )


def test_other_roles_get_the_apis_refusal(api: Api, browser: Any) -> None:
    rita = browser("rita")
    assert 'href="/portal/audit"' not in rita.get("/portal/").text
    for url, api_url in (
        ("/portal/audit", "/audit/events"),
        ("/portal/audit/verify", "/audit/verify"),
        ("/portal/compliance", "/compliance/report"),
    ):
        answer = rita.get(url)
        expected = api.get(api_url, "rita")
        assert answer.status_code == expected.status_code == 403, url
        assert str(escape(expected.json()["error"]["message"])) in answer.text
