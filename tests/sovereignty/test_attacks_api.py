"""Bad and hostile requests to GET /compliance/report (SQLite and PostgreSQL): each is one
JSON error, never a 500, and only auditors and admins read the report."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, api, assert_error, seeded_hub, seeds

__all__ = ["api", "seeded_hub", "seeds"]


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("dataset=", 422, "invalid_request"),
        ("dataset=" + "a" * 129, 422, "invalid_request"),
        ("dataset=%00", 422, "invalid_request"),
        ("dataset=a%0Ab", 422, "invalid_request"),
        ("dataset=..%2F..%2Fetc", 404, "not_found"),
        ("dataset=%C3%A9%E2%80%AE", 404, "not_found"),
        ("dataset=nope&dataset=other", 404, "not_found"),
        ("format=pdf", 422, "invalid_request"),
        ("format=HTML", 422, "invalid_request"),
        ("format=json%00", 422, "invalid_request"),
    ],
)
def test_bad_queries_are_one_error(api: Api, query: str, status: int, code: str) -> None:
    response = api.get(f"/compliance/report?{query}", "aude")
    assert response.status_code < 500, response.text
    error = assert_error(response, response.status_code, response.json()["error"]["code"])
    assert response.status_code == status, error
    assert error["code"] == code or status == 404, error


@pytest.mark.parametrize("who", ["stella", "rita", None])
def test_only_auditors_and_admins_read_it(api: Api, who: str | None) -> None:
    for fmt in ("json", "html"):
        response = api.get(f"/compliance/report?format={fmt}", who)
        assert response.status_code in (401, 403), response.text
        assert "datasets" not in response.text
