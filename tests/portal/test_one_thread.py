"""The reads answered in one worker thread (``api/one_thread.py``, the portal's
``page_in_one_thread``) answer as the ``Actor``/``SignedIn`` routes did: the credential
is checked before the parameters, the body is the response model's, the read audited."""

from __future__ import annotations

from typing import Any

import pytest

from passerelle.hub.audit import AuditFilter, list_events
from passerelle.portal.session import SESSION_COOKIE
from tests.api.conftest import Api
from tests.portal.conftest import sign_in


def _reads(api: Api) -> list[dict[str, Any]]:
    from passerelle.hub import authenticate

    auditor = authenticate(api.hub, api.tokens["admin"])
    return list_events(api.hub, auditor, AuditFilter(action="dataset.list"), limit=10_000)


@pytest.mark.parametrize("query", ["?limit=0", "?offset=-1", "?limit=abc", "?q=" + "x" * 300])
@pytest.mark.parametrize("token", [None, "pst_forged", "not-even-a-token"])
def test_a_bad_token_with_bad_parameters_is_401_not_422(
    api: Api, query: str, token: str | None
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = api.client.get(f"/datasets{query}", headers=headers)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthenticated"


def test_a_good_token_with_bad_parameters_is_422_and_reads_nothing(api: Api) -> None:
    before = len(_reads(api))
    answer = api.get("/datasets?limit=0", "rita")
    assert answer.status_code == 422 and "query.limit" in answer.text
    assert len(_reads(api)) == before


def test_the_list_is_the_response_model_and_its_read_is_audited(api: Api) -> None:
    before = len(_reads(api))
    answer = api.get("/datasets?limit=1", "rita")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert set(body) == {"items", "total", "limit", "offset"} and body["limit"] == 1
    assert len(body["items"]) <= 1
    reads = _reads(api)
    assert len(reads) == before + 1 and reads[-1]["actor"] == "rita"
    assert reads[-1]["details"]["visible"] == body["total"]


def test_the_portal_catalog_sends_a_dead_session_to_sign_in_before_a_bad_parameter(
    api: Api, browser: Any
) -> None:
    client = browser(None)
    client.cookies.set(SESSION_COOKIE, "pst_forged")
    answer = client.get("/portal/catalog?page=0", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")
    live = browser(None)
    sign_in(live, api.tokens["rita"])
    page = live.get("/portal/catalog?page=0")
    assert page.status_code == 422 and "rita" in page.text  # the page knows its session
