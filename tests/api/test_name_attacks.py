"""Names and numbers written in other scripts, through the HTTP API.

``'²'`` passes ``str.isdigit`` but not ``int``: a user or dataset filter spelled
with it answered 500 with a traceback; ``'٥'`` passed for the number 5, so the
"not found" answer no longer echoed what the caller asked for.
"""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, assert_error

SUPERSCRIPT, ARABIC_FIVE = "\u00b2", "\u0665"


@pytest.mark.parametrize(
    "name", [SUPERSCRIPT, ARABIC_FIVE, "\uff15"], ids=["sup", "arabic", "fullwidth"]
)
def test_another_users_tokens_by_a_unicode_digit_name(api: Api, name: str) -> None:
    unknown = assert_error(api.get("/tokens", "rita", params={"user": "nobody"}), 404, "not_found")
    for response in (
        api.get("/tokens", "rita", params={"user": name}),
        api.post("/tokens", "rita", json={"user": name}),
    ):
        error = assert_error(response, 404, "not_found")
        assert error["message"] == unknown["message"].replace("'nobody'", repr(name))


@pytest.mark.parametrize("name", [SUPERSCRIPT, ARABIC_FIVE], ids=["sup", "arabic"])
def test_the_audit_dataset_filter_takes_ascii_ids_only(api: Api, name: str) -> None:
    for route in ("/audit/events", "/audit/export"):
        error = assert_error(
            api.get(route, "aude", params={"dataset": name}), 422, "invalid_request"
        )
        assert "no dataset named" in error["message"]
