"""Each role's main story clicked through in a real browser (Debian's Chromium through
Playwright) against `passerelle serve`, on SQLite and PostgreSQL: nothing is requested
from outside the hub and no page logs an error (a CSP refusal would be one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import SQLITE_ONLY, Api
from tests.api.helpers import published_project
from tests.api.test_research_api import SMALL_CELL_SQL
from tests.backends import closed_port
from tests.portal.browser import (
    CHROMIUM_ARGS,
    Served,
    Tab,
    chromium_binary,
    open_tab,
    screenshot,
    serve,
    stop,
)


@pytest.fixture
def chromium() -> Iterator[Any]:
    binary = chromium_binary()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def served(api: Api, tmp_path: Path) -> Iterator[Served]:
    running = serve(api.hub.config.directory, closed_port(), tmp_path / "serve.log")
    try:
        yield running
    finally:
        stop(running)


def _sign_in_by_clicking(tab: Tab, url: str, token: str) -> None:
    tab.page.goto(url)
    assert "/signin" in tab.page.url
    tab.page.get_by_label("API token").fill(token)
    tab.page.get_by_role("button", name="Sign in").click()


def _sign_in_by_keyboard(tab: Tab, origin: str, token: str) -> None:
    tab.page.goto(f"{origin}/signin")
    for _ in range(12):  # from the top of the page: skip link, brand, then the field
        tab.page.keyboard.press("Tab")
        if tab.page.evaluate("document.activeElement && document.activeElement.id") == "token":
            break
    else:
        raise AssertionError("the token field cannot be reached with the keyboard")
    tab.page.keyboard.type(token)
    tab.page.keyboard.press("Enter")
    tab.page.wait_for_url(f"{origin}/portal/")


def test_researcher_and_output_checker_stories_in_chromium(
    api: Api, served: Served, chromium: Any, synth_sources: Path
) -> None:
    api.add_user("olga", "output-checker")
    published_project(api, synth_sources)
    origin = served.url

    rita = open_tab(chromium, origin)
    _sign_in_by_clicking(rita, f"{origin}/portal/catalog", api.tokens["rita"])
    rita.page.wait_for_url(f"{origin}/portal/catalog")
    screenshot(rita, "researcher-catalog")
    rita.page.get_by_role("link", name="pmsi_stays").click()
    assert rita.page.get_by_role("heading", name="pmsi_stays").is_visible()
    screenshot(rita, "researcher-dataset")

    rita.page.goto(f"{origin}/portal/projects")
    rita.page.get_by_role("link", name="Sepsis outcomes").click()
    screenshot(rita, "researcher-project")
    rita.page.get_by_role("link", name="Queries").click()
    rita.page.get_by_label("SQL over the project's granted datasets").fill(
        "SELECT * FROM read_csv('/etc/passwd')"
    )
    rita.page.get_by_role("button", name="Run").click()
    refusal = rita.page.get_by_role("alert")
    assert refusal.is_visible() and "root:" not in rita.page.content()
    assert rita.errors == [
        "Failed to load resource: the server responded with a status of 403 (Forbidden)"
    ]
    rita.errors.clear()  # the refused query's page is a 403, as the API's answer is
    screenshot(rita, "researcher-query-refused")
    rita.page.get_by_label("SQL over the project's granted datasets").fill(SMALL_CELL_SQL)
    rita.page.get_by_role("button", name="Run").click()
    rita.page.wait_for_url(f"{origin}/portal/queries/*")
    assert rita.page.locator("table tbody tr").count() == 8
    screenshot(rita, "researcher-result")
    rita.page.get_by_role("button", name="Ask for a release").click()
    rita.page.wait_for_url(f"{origin}/portal/releases/*")
    release_url = rita.page.url
    assert "pending" in rita.page.inner_text("main")
    screenshot(rita, "researcher-release-pending")

    olga = open_tab(chromium, origin)
    _sign_in_by_keyboard(olga, origin, api.tokens["olga"])
    olga.page.get_by_role("link", name="Releases to check").first.click()
    screenshot(olga, "checker-queue")
    olga.page.locator(f"a[href='{release_url.removeprefix(origin)}']").click()
    olga.page.get_by_label("Reason").fill("the small cells are suppressed")
    screenshot(olga, "checker-release")
    olga.page.get_by_role("button", name="Approve and release").click()
    olga.page.wait_for_url(release_url)
    assert "released" in olga.page.inner_text("main")

    rita.page.reload()
    assert rita.page.get_by_role("link", name="Download the released table (CSV)").is_visible()
    screenshot(rita, "researcher-release-released")
    rita.page.get_by_role("button", name="Sign out").click()
    rita.page.wait_for_url(f"{origin}/signin")
    rita.page.goto(f"{origin}/portal/")
    assert "/signin" in rita.page.url  # the session is gone

    for tab in (rita, olga):
        assert tab.outside() == [], tab.outside()
        assert tab.errors == [], tab.errors


@SQLITE_ONLY  # the page reads no database
def test_api_docs_render_offline_under_the_csp(served: Served, chromium: Any) -> None:
    tab = open_tab(chromium, served.url)
    tab.page.goto(f"{served.url}/docs")
    tab.page.wait_for_selector(".opblock", timeout=30_000)  # Swagger UI drew the operations
    assert tab.page.locator(".opblock").count() > 20
    screenshot(tab, "api-docs")
    assert tab.outside() == [], tab.outside()
    assert tab.errors == [], tab.errors


def test_an_operator_watches_the_move_chart_in_chromium(
    api: Api, served: Served, chromium: Any, tmp_path: Path
) -> None:
    import threading

    from passerelle.hub import authenticate
    from passerelle.live import run_backlog
    from tests.api.test_migration_api import write

    api.add_user("otto", "operator")
    write(api, 40)
    origin = served.url
    otto = open_tab(chromium, origin)
    _sign_in_by_clicking(otto, f"{origin}/portal/operator", api.tokens["otto"])
    otto.page.wait_for_url(f"{origin}/portal/operator")
    otto.page.get_by_role("link", name="Start the move").click()
    otto.page.get_by_label("Destination store URL").fill(f"file://{tmp_path / 'cloud-b'}")
    otto.page.get_by_role("button", name="Yes, start").click()
    assert otto.page.locator("#phase").inner_text() == "mirroring"
    assert otto.page.locator("#chart-throughput canvas").count() == 1  # uPlot drew its chart
    assert otto.page.locator("#chart-latency canvas").count() == 1
    mover = threading.Thread(
        target=run_backlog, args=(api.hub, authenticate(api.hub, api.tokens["otto"]))
    )
    mover.start()
    mover.join(timeout=120)
    otto.page.wait_for_function(  # the page updated itself from its samples
        "() => { const t = document.getElementById('progress').textContent;"
        " const m = t.match(/^(\\d+) \\/ (\\d+) objects/); return m && m[1] === m[2] && m[1] !== '0'; }",
        timeout=30_000,
    )
    screenshot(otto, "operator-move")
    otto.page.get_by_role("link", name="Cut over").click()
    otto.page.get_by_role("button", name="Yes, cutover").click()
    assert "Cutover done" in otto.page.inner_text("main")
    assert otto.page.locator("#phase").inner_text() == "cutover"
    assert otto.outside() == [], otto.outside()
    assert otto.errors == [], otto.errors


def test_an_operator_drills_the_exit_to_a_replica_in_chromium(
    api: Api, served: Served, chromium: Any, tmp_path: Path
) -> None:
    from passerelle.hub import authenticate
    from passerelle.live.replica import add_replica
    from tests.api.test_migration_api import write

    api.add_user("otto", "operator")
    otto_principal = authenticate(api.hub, api.tokens["otto"])
    add_replica(api.hub, otto_principal, f"file://{tmp_path / 'replica'}", name="ovh-gra")
    write(api, 20)
    origin = served.url
    otto = open_tab(chromium, origin)
    _sign_in_by_clicking(otto, f"{origin}/portal/operator", api.tokens["otto"])
    otto.page.wait_for_url(f"{origin}/portal/operator")
    otto.page.get_by_role("link", name="Exit drill").click()
    otto.page.get_by_role("button", name="Yes, exit-drill").click()
    main = otto.page.inner_text("main")
    assert "Ready: a switch now would lose nothing" in main, main
    assert "Art. 25(2)(a) notice" in main
    screenshot(otto, "operator-exit-drill")
    otto.page.get_by_role("link", name="Back to the live move").click()
    otto.page.get_by_role("link", name="Prove").click()
    otto.page.get_by_role("button", name="Yes, verify").click()
    assert "Proven: the replica holds the hub" in otto.page.inner_text("main")
    assert otto.outside() == [], otto.outside()
    assert otto.errors == [], otto.errors


def test_steward_story_in_chromium(
    api: Api, served: Served, chromium: Any, synth_sources: Path
) -> None:
    from tests.api.helpers import ingest_body, org_body, project_body

    api.ok("POST", "/organizations", "stella", json=org_body())
    api.ok("POST", "/ingests", "stella", json=ingest_body(synth_sources))
    api.ok("POST", "/projects", "rita", json=project_body(api, "Readmissions after sepsis"))
    origin = served.url

    stella = open_tab(chromium, origin)
    _sign_in_by_clicking(stella, f"{origin}/portal/ingests", api.tokens["stella"])
    stella.page.wait_for_url(f"{origin}/portal/ingests")
    assert stella.page.get_by_text("Quarantine reasons by kind").first.is_visible()
    screenshot(stella, "steward-ingests")
    stella.page.get_by_role("link", name="pmsi_stays", exact=True).first.click()
    assert stella.page.get_by_role("heading", name="Versions").is_visible()
    screenshot(stella, "steward-dataset-versions")

    stella.page.get_by_role("link", name="Projects to approve").click()
    screenshot(stella, "steward-projects-to-approve")
    stella.page.get_by_role("link", name="Readmissions after sepsis").click()
    stella.page.get_by_role("button", name="Approve").click()
    assert "approved" in stella.page.inner_text("main")
    stella.page.get_by_label("Dataset").fill("pmsi_stays")
    stella.page.get_by_role("button", name="Grant").click()
    assert stella.page.get_by_role("button", name="Revoke the grant of pmsi_stays").is_visible()
    screenshot(stella, "steward-project-granted")
    assert stella.outside() == [], stella.outside()
    assert stella.errors == [], stella.errors


def test_auditor_story_in_chromium(
    api: Api, served: Served, chromium: Any, synth_sources: Path
) -> None:
    published_project(api, synth_sources)
    origin = served.url
    aude = open_tab(chromium, origin)
    aude.page.goto(f"{origin}/signin")
    screenshot(aude, "signin")
    _sign_in_by_clicking(aude, f"{origin}/portal/audit", api.tokens["aude"])
    aude.page.wait_for_url(f"{origin}/portal/audit")
    assert aude.page.locator("table tbody tr").count() > 5
    screenshot(aude, "auditor-timeline")
    aude.page.get_by_label("Actor").fill("stella")
    aude.page.get_by_role("button", name="Filter").click()
    assert "stella" in aude.page.inner_text("table tbody")
    aude.page.goto(f"{origin}/portal/audit/verify")
    assert "The chain is intact" in aude.page.inner_text("main")
    screenshot(aude, "auditor-verify")
    aude.page.get_by_role("link", name="Where data lives").click()
    assert "pmsi_stays" in aude.page.inner_text("main")
    screenshot(aude, "auditor-where-data-lives")
    assert aude.outside() == [], aude.outside()
    assert aude.errors == [], aude.errors
