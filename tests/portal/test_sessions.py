"""Signing in and out of the portal, and the attacks on sessions: login CSRF, forged
forms, fixation, revoked tokens, open redirects."""

from __future__ import annotations

from typing import Any

import pytest

from passerelle.hub import authenticate, list_tokens, revoke_token
from passerelle.portal.session import SESSION_COOKIE, SESSION_LABEL, safe_next, session_days
from tests.api.conftest import Api
from tests.portal.conftest import csrf_of, sign_in


def _cookie_header(response: Any, name: str) -> str:
    headers = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    found = [h for h in headers if h.startswith(f"{name}=")]
    assert found, headers
    return found[0]


def test_signing_in_mints_a_session_token_in_a_strict_httponly_cookie(
    api: Api, browser: Any
) -> None:
    client = browser(None)
    answer = sign_in(client, api.tokens["rita"])
    assert answer.status_code == 303 and answer.headers["location"] == "/portal/"
    header = _cookie_header(answer, SESSION_COOKIE).lower()
    assert "httponly" in header and "samesite=strict" in header and "path=/" in header
    secret = client.cookies[SESSION_COOKIE]
    assert secret != api.tokens["rita"]  # the pasted token never becomes the cookie
    session = authenticate(api.hub, secret)
    parent = authenticate(api.hub, api.tokens["rita"])
    assert session.name == "rita" and session.token_expires <= parent.token_expires
    mine = {t.id: t for t in list_tokens(api.hub, parent)}
    assert mine[session.token_id].label == SESSION_LABEL
    assert mine[session.token_id].parent == parent.token_id
    home = client.get("/portal/")
    assert home.status_code == 200 and "Welcome, rita" in home.text


def test_a_wrong_token_is_one_sentence_and_no_session(api: Api, browser: Any) -> None:
    client = browser(None)
    answer = sign_in(client, "pst_not-a-real-token")
    assert answer.status_code == 401
    assert "the API token is unknown: ask an admin for a new one" in answer.text
    assert SESSION_COOKIE not in client.cookies
    assert "Traceback" not in answer.text


def test_login_csrf_a_form_posted_from_elsewhere_signs_no_one_in(api: Api, browser: Any) -> None:
    client = browser(None)
    # no nonce cookie (another site's form): refused even with a valid token
    answer = client.post(
        "/signin", data={"token": api.tokens["rita"], "nonce": "forged"}, follow_redirects=False
    )
    assert answer.status_code == 403 and SESSION_COOKIE not in client.cookies
    # the cookie's nonce but another value in the form
    client.get("/signin")
    answer = client.post(
        "/signin", data={"token": api.tokens["rita"], "nonce": "x" * 32}, follow_redirects=False
    )
    assert answer.status_code == 403 and SESSION_COOKIE not in client.cookies


def test_pages_need_a_session_and_go_back_after_signing_in(api: Api, browser: Any) -> None:
    client = browser(None)
    answer = client.get("/portal/catalog?q=stays", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=%2Fportal%2Fcatalog%3Fq%3Dstays"
    page = client.get(answer.headers["location"])
    posted = client.post(
        "/signin",
        data={
            "token": api.tokens["rita"],
            "nonce": csrf_of(page.text, "nonce"),
            "next": csrf_of(page.text, "next"),
        },
        follow_redirects=False,
    )
    assert posted.headers["location"] == "/portal/catalog?q=stays"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "/portal/\\\\evil",
        "javascript:alert(1)",
        "/docs",
        "/portal/ x",
        "/portal/\r\nSet-Cookie: a=b",
        "",
        None,
    ],
)
def test_after_sign_in_only_portal_paths_are_followed(target: str | None) -> None:
    assert safe_next(target) == "/portal/"


def test_sign_in_never_redirects_off_the_portal(api: Api, browser: Any) -> None:
    client = browser(None)
    page = client.get("/signin", params={"next": "//evil.example/x"})
    assert csrf_of(page.text, "next") == "/portal/"
    answer = client.post(
        "/signin",
        data={"token": api.tokens["rita"], "nonce": csrf_of(page.text, "nonce"), "next": "//e.x"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/portal/"


def test_signing_out_needs_the_form_token_and_kills_the_session(api: Api, browser: Any) -> None:
    client = browser("rita")
    secret = client.cookies[SESSION_COOKIE]
    forged = client.post("/signout", data={"csrf": "0" * 64}, follow_redirects=False)
    assert forged.status_code == 403  # a cross-site form cannot sign anyone out
    assert client.get("/portal/", follow_redirects=False).status_code == 200
    csrf = csrf_of(client.get("/portal/").text)
    out = client.post("/signout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    # a copy of the cookie taken before signing out opens nothing
    stolen = browser(None)
    stolen.cookies.set(SESSION_COOKIE, secret)
    answer = stolen.get("/portal/", follow_redirects=False)
    assert answer.status_code == 303 and "refused=1" in answer.headers["location"]


def test_revoking_the_parent_token_ends_the_session(api: Api, browser: Any) -> None:
    client = browser("rita")
    assert client.get("/portal/", follow_redirects=False).status_code == 200
    admin = authenticate(api.hub, api.tokens["admin"])
    rita = authenticate(api.hub, api.tokens["rita"])
    revoke_token(api.hub, admin, rita.token_id)
    answer = client.get("/portal/catalog", follow_redirects=False)
    assert answer.status_code == 303 and "refused=1" in answer.headers["location"]
    page = client.get(answer.headers["location"])
    assert "Your session ended" in page.text


def test_session_fixation_a_planted_cookie_is_replaced_at_sign_in(api: Api, browser: Any) -> None:
    victim = browser(None)
    planted = browser("remy").cookies[SESSION_COOKIE]  # the attacker's own live session
    victim.cookies.set(SESSION_COOKIE, planted, domain="testserver.local", path="/")
    sign_in(victim, api.tokens["rita"])
    assert victim.cookies[SESSION_COOKIE] != planted
    assert "Welcome, rita" in victim.get("/portal/").text
    # and a made-up value is no session at all
    fake = browser(None)
    fake.cookies.set(SESSION_COOKIE, "pst_made-up")
    assert fake.get("/portal/", follow_redirects=False).status_code == 303


def test_a_short_lived_parent_gives_a_session_no_longer_than_itself() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 12, 6, tzinfo=UTC)
    assert session_days(now, None) == 1
    assert session_days(now, now + timedelta(days=30)) == 1
    assert session_days(now, now + timedelta(hours=5)) is None  # its parent's end


def test_bad_page_parameters_are_a_sentence_not_a_traceback(browser: Any) -> None:
    client = browser("rita")
    for url in ("/portal/catalog?page=0", "/portal/projects/abc", "/portal/projects?page=x"):
        answer = client.get(url)
        assert answer.status_code == 422, url
        assert "correct it and retry" in answer.text and "Traceback" not in answer.text


def test_non_ascii_form_tokens_are_refused_not_a_500(api: Api, browser: Any) -> None:
    anonymous = browser(None)
    anonymous.get("/signin")
    answer = anonymous.post("/signin", data={"token": api.tokens["rita"], "nonce": "é"})
    assert answer.status_code == 403 and SESSION_COOKIE not in anonymous.cookies
    rita = browser("rita")
    for value in ("é", "\x00é", "ＡＢＣ" * 20):
        out = rita.post("/signout", data={"csrf": value}, follow_redirects=False)
        assert out.status_code == 403, value
    assert rita.get("/portal/", follow_redirects=False).status_code == 200  # still signed in


def test_a_wrong_method_names_the_right_one(browser: Any) -> None:
    answer = browser(None).get("/signout")
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert "does not answer GET requests (it takes POST)" in answer.text  # the portal's page
