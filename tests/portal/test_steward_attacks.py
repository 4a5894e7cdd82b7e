"""Attacks on the stewards' record of ingestions: its filter over the JSON list of catalog
entries (a LIKE) and the page's own filter form."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.api.conftest import SQLITE_ONLY, Api
from tests.api.helpers import ingest_body, org_body

pytestmark = SQLITE_ONLY


def _ingested(api: Api, synth_sources: Path) -> None:
    api.ok("POST", "/organizations", "stella", json=org_body())
    api.ok("POST", "/ingests", "stella", json=ingest_body(synth_sources))  # two entries


def test_a_filter_that_is_no_catalog_name_matches_no_run(api: Api, synth_sources: Path) -> None:
    """``", "`` is the JSON list's own separator and SQLite's LIKE ignores case: neither
    names a dataset, and neither may select the runs."""
    _ingested(api, synth_sources)

    def total(name: str) -> int:
        return int(api.ok("GET", "/ingests", "stella", params={"dataset": name})["total"])

    assert total("pmsi_stays") == total("pmsi_stays_quarantine") == 1  # real names still do
    for crafted in (", ", '", "', "PMSI_STAYS", "Pmsi_Stays_Quarantine", 's", "p'):
        assert total(crafted) == 0, crafted


def test_the_ingests_filter_cleared_on_the_page_lists_every_run(
    api: Api, browser: Any, synth_sources: Path
) -> None:
    """The page's form sends ``dataset=`` once its field is emptied: every run, not a 422."""
    _ingested(api, synth_sources)
    client = browser("stella")
    page = client.get("/portal/ingests", params={"dataset": ""})
    assert page.status_code == 200, page.text
    assert re.search(r"\b1 run\b", page.text) and "of “" not in page.text
