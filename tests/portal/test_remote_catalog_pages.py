"""The researcher's catalog page lists the partners' datasets imported here, as text."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api
from tests.hub.test_dcat_import import partner_export

XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def test_remote_datasets_are_listed_and_searched_as_text(api: Api, browser: Any) -> None:
    body = partner_export("turtle", title=XSS).decode()
    claims = "<https://partner.example.eu/portal/catalog/claims> ;"
    assert claims in body
    body = body.replace(claims, "<javascript:alert(3)> ;", 1)  # that landing page is dropped
    done = api.call(
        "POST", "/catalog/imports", "stella", params={"source": "lyon"}, content=body.encode()
    )
    assert done.status_code == 201, done.text
    rita = browser("rita")
    page = rita.get("/portal/catalog")
    assert page.status_code == 200
    assert "Remote datasets" in page.text and "2 datasets of partner hubs" in page.text
    assert XSS not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "javascript:" not in page.text
    assert 'href="https://partner.example.eu/portal/catalog/stays" rel="noopener' in page.text
    found = rita.get("/portal/catalog", params={"q": "claims"})
    assert "1 dataset of partner hubs" in found.text
    none = rita.get("/portal/catalog", params={"q": "nothing-like-it"})
    assert "Remote datasets" not in none.text
    assert _remote_reads(api) == 3  # each listing is a read, audited


def _remote_reads(api: Api) -> int:
    from sqlalchemy import func, select

    from passerelle.hub.tables import AuditEvent

    with api.hub.db.read() as session:
        where = AuditEvent.action == "catalog.read-remote"
        return int(session.execute(select(func.count(AuditEvent.seq)).where(where)).scalar_one())


def test_a_hub_without_remote_datasets_shows_no_section_and_reads_none(
    api: Api, browser: Any
) -> None:
    page = browser("rita").get("/portal/catalog")
    assert page.status_code == 200 and "Remote datasets" not in page.text
    assert _remote_reads(api) == 0  # the page's cost stays one audited catalog read


def test_an_import_shows_on_the_page_once_the_presence_answer_is_stale(
    api: Api, browser: Any, monkeypatch: Any
) -> None:
    from passerelle.portal import catalog_pages

    clock = [1000.0]
    monkeypatch.setattr(catalog_pages, "monotonic", lambda: clock[0])
    rita = browser("rita")
    assert "Remote datasets" not in rita.get("/portal/catalog").text
    done = api.call(
        "POST",
        "/catalog/imports",
        "stella",
        params={"source": "lyon"},
        content=partner_export("turtle"),
    )
    assert done.status_code == 201, done.text
    clock[0] += catalog_pages.REMOTE_PRESENCE_TTL / 2
    assert "Remote datasets" not in rita.get("/portal/catalog").text  # trusted a moment
    clock[0] += catalog_pages.REMOTE_PRESENCE_TTL / 2
    assert "Remote datasets" in rita.get("/portal/catalog").text
    assert _remote_reads(api) == 1


def test_the_presence_answer_is_read_once_per_interval() -> None:
    from passerelle.portal.catalog_pages import REMOTE_PRESENCE_TTL, RemotePresence

    reads: list[int] = []
    answers = iter([False, True])
    presence = RemotePresence(lambda: reads.append(1) or next(answers))
    assert presence() is False and presence() is False and len(reads) == 1
    presence._known = (presence._known[0] - REMOTE_PRESENCE_TTL, False)  # type: ignore[index]
    assert presence() is True and len(reads) == 2
