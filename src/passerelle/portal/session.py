"""Portal sessions: an API token exchanged for a short-lived child token in a cookie.

Signing in authenticates the pasted token exactly as the API does (same refusals,
same throttle, same audit), then issues a *child* token labelled ``portal
session`` that lives at most a day and never past its parent. Its secret is the
session cookie (HttpOnly, SameSite=Strict, Path=/, Secure over HTTPS), so:

- revoking the parent token, or the user being disabled, ends the session on its
  next request (the child is revoked with its lineage, and every request
  authenticates the cookie again);
- a cookie planted before sign-in is never reused: each sign-in mints a new
  secret (no session fixation);
- signing out revokes the child token, so a copied cookie dies with it.

Forms carry a CSRF token derived from the session secret with HMAC (pure: no
server state); the sign-in form, which has no session yet, pairs a random value
in a cookie with the same value in the form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from passerelle.hub.hub import Hub
    from passerelle.hub.rules import Principal
    from passerelle.hub.views import IssuedToken

__all__ = [
    "SESSION_COOKIE",
    "SESSION_LABEL",
    "SESSION_MAX",
    "SIGNIN_COOKIE",
    "csrf_for",
    "csrf_matches",
    "new_signin_nonce",
    "safe_next",
    "session_days",
    "start_session",
]

SESSION_COOKIE = "passerelle_session"
SIGNIN_COOKIE = "passerelle_signin"
SESSION_LABEL = "portal session"
SESSION_MAX = timedelta(days=1)
_CSRF_CONTEXT = b"passerelle portal csrf v1"


def csrf_for(session_secret: str) -> str:
    """The CSRF token of the forms of one session (pure)."""
    return hmac.new(session_secret.encode(), _CSRF_CONTEXT, hashlib.sha256).hexdigest()


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """Whether a form's CSRF value is the expected one (constant time; missing is False)."""
    if not expected or not given:
        return False
    # bytes, not str: compare_digest refuses non-ASCII text with a TypeError (a 500)
    return hmac.compare_digest(
        str(expected).encode("utf-8", "surrogatepass"), str(given).encode("utf-8", "surrogatepass")
    )


def new_signin_nonce() -> str:
    return secrets.token_urlsafe(24)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this portal only (no open redirect)."""
    if (
        target
        and target.startswith("/portal/")
        and not target.startswith("//")
        and "\\" not in target
        and all(ch.isprintable() and not ch.isspace() for ch in target)
    ):
        return target
    return "/portal/"


def session_days(now: datetime, parent_expires: datetime | None) -> int | None:
    """The ``days`` to ask for the session token: one, or ``None`` (its parent's end) when
    the parent ends sooner (pure)."""
    if parent_expires is not None and parent_expires - now <= SESSION_MAX:
        return None
    return 1


def start_session(
    hub: Hub, api_token: str, *, source: str, limiter: object | None
) -> tuple[Principal, IssuedToken]:
    """Authenticate ``api_token`` as the API does, then issue the session's child token."""
    from passerelle.hub import authenticate, issue_token

    principal = authenticate(hub, api_token, source=source, limiter=limiter)  # type: ignore[arg-type]
    days = session_days(hub.now(), principal.token_expires)
    return principal, issue_token(hub, principal, label=SESSION_LABEL, days=days)
