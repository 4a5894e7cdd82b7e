"""Unknown portal addresses, wrong methods and unexpected failures are the portal's error
page (HTML, one sentence, the security headers), while API paths keep the JSON body."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import SQLITE_ONLY, Api, assert_error
from tests.portal.conftest import sign_in

pytestmark = SQLITE_ONLY


@pytest.mark.parametrize("path", ["/portal/nope", "/portal/catalog/a/b", "/portal/projects/x/y"])
def test_an_unknown_portal_address_is_the_error_page(api: Api, browser: Any, path: str) -> None:
    for client in (browser("rita"), browser(None)):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html")
        assert "no such page" in answer.text and "Traceback" not in answer.text
        assert "default-src" in answer.headers["content-security-policy"]


def test_a_wrong_method_on_a_portal_page_names_the_right_one(api: Api, browser: Any) -> None:
    client = browser("rita")
    answer = client.delete("/portal/catalog")
    assert answer.status_code == 405 and answer.headers["allow"] == "GET"
    assert "(it takes GET)" in answer.text and answer.headers["content-type"].startswith(
        "text/html"
    )
    assert client.put("/signin").status_code == 405


def test_api_paths_keep_the_json_error_body(api: Api) -> None:
    assert_error(api.get("/nope", "rita"), 404, "not_found")
    assert_error(api.call("DELETE", "/datasets", "rita"), 405, "method_not_allowed")
    assert_error(api.get("/portalx", "rita"), 404, "not_found")


def test_an_unexpected_failure_on_a_page_is_the_error_page(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    import passerelle.hub

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    client = TestClient(api.client.app, raise_server_exceptions=False)
    assert sign_in(client, api.tokens["rita"]).status_code == 303
    monkeypatch.setattr(passerelle.hub, "list_datasets", broken)
    answer = client.get("/portal/catalog")
    assert answer.status_code == 500 and answer.headers["content-type"].startswith("text/html")
    assert "failed unexpectedly" in answer.text and "secret internal detail" not in answer.text
    as_api = client.get("/datasets", headers=api.headers("rita"))
    assert_error(as_api, 500, "internal_error")  # the API's JSON body, not the page
    client.close()
