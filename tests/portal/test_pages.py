"""The researcher's pages: the catalog and projects, with the API's rules and refusals,
and stored XSS tried through every name a user can choose."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import escape

from tests.api.conftest import Api
from tests.api.helpers import approved_project, catalog, dataset_body, org_body, project_body

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'&'


def test_the_catalog_lists_searches_and_opens_an_entry(api: Api, browser: Any) -> None:
    catalog(api)
    api.ok("POST", "/datasets", "stella", json=dataset_body("snds_claims", description="Claims"))
    client = browser("rita")
    page = client.get("/portal/catalog")
    assert page.status_code == 200 and "pmsi_mco" in page.text and "snds_claims" in page.text
    found = client.get("/portal/catalog", params={"q": "CLAIMS"})
    assert "snds_claims" in found.text and "pmsi_mco" not in found.text
    assert api.ok("GET", "/datasets?q=claims", "rita")["total"] == 1  # the same search
    entry = client.get("/portal/catalog/pmsi_mco")
    assert entry.status_code == 200
    assert "patient_pseudo" in entry.text and "age at admission" in entry.text
    assert "health-pseudonymized" in entry.text


def test_a_hidden_dataset_is_the_apis_404(api: Api, browser: Any) -> None:
    catalog(api, discoverable=False)
    client = browser("rita")
    answer = client.get("/portal/catalog/pmsi_mco")
    expected = api.get("/datasets/pmsi_mco", "rita")
    assert answer.status_code == expected.status_code == 404
    assert str(escape(expected.json()["error"]["message"])) in answer.text
    missing = client.get("/portal/catalog/no_such")
    assert missing.status_code == 404  # the same answer as a hidden one


def test_another_projects_page_is_the_apis_404(api: Api, browser: Any) -> None:
    theirs = approved_project(api, who="remy", title="Remy's own")
    client = browser("rita")
    answer = client.get(f"/portal/projects/{theirs}")
    expected = api.get(f"/projects/{theirs}", "rita")
    assert answer.status_code == expected.status_code == 404
    assert str(escape(expected.json()["error"]["message"])) in answer.text
    assert "Remy&#39;s own" not in answer.text and "Remy's own" not in answer.text
    assert "Remy" not in client.get("/portal/projects").text


def test_my_projects_show_status_and_grants(api: Api, browser: Any) -> None:
    catalog(api)
    pid = approved_project(api)
    api.ok("POST", f"/projects/{pid}/grants", "simon", json={"dataset": "pmsi_mco"})
    client = browser("rita")
    listing = client.get("/portal/projects")
    assert "Sepsis outcomes" in listing.text and "approved" in listing.text
    page = client.get(f"/portal/projects/{pid}")
    assert page.status_code == 200 and "pmsi_mco" in page.text and "active" in page.text


def _no_live_markup(text: str) -> None:
    assert "<script>alert" not in text and "<img src=x" not in text
    assert not re.search(r"<[^>]*\bonerror\s*=", text)


def test_stored_xss_through_every_chosen_name_renders_as_text(api: Api, browser: Any) -> None:
    api.ok("POST", "/organizations", "stella", json=org_body())
    api.ok(
        "POST",
        "/datasets",
        "stella",
        json=dataset_body(
            description=XSS,
            schema=[{"name": "age", "type": "INTEGER", "description": XSS}],
        ),
    )
    body = project_body(api, title=XSS, purpose=XSS, authorization_ref=XSS[:60])
    pid = api.ok("POST", "/projects", "rita", json=body)["id"]
    api.ok("POST", f"/projects/{pid}/approve", "simon")
    api.ok("POST", f"/projects/{pid}/grants", "simon", json={"dataset": "pmsi_mco"})
    client = browser("rita")
    for url in (
        "/portal/",
        "/portal/catalog",
        f"/portal/catalog?q={XSS[:30]}",
        "/portal/catalog/pmsi_mco",
        "/portal/projects",
        f"/portal/projects/{pid}",
    ):
        page = client.get(url)
        assert page.status_code == 200, (url, page.text)
        _no_live_markup(page.text)
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
        in client.get(f"/portal/projects/{pid}").text
    )


def test_a_name_that_looks_like_markup_is_refused_before_any_page(api: Api) -> None:
    api.ok("POST", "/organizations", "stella", json=org_body())
    answer = api.post("/datasets", "stella", json=dataset_body(name="<b>x</b>"))
    assert answer.status_code == 422  # dataset names keep to the hub's allow-list
