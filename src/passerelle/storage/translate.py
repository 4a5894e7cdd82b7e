"""Turn obstore, cloud SDK and OS exceptions into passerelle's error tree.

``classify`` is pure (message text in, error class out) so that it can be tested
on the exact texts the real servers produce.
"""

from __future__ import annotations

import re

from passerelle.errors import (
    AuthenticationError,
    ContainerNotFoundError,
    EndpointUnreachableError,
    ObjectNotFoundError,
    PasserelleError,
    PermissionDeniedError,
    PreconditionFailedError,
    ServiceError,
    TerminalError,
    ThrottledError,
    UnsupportedOperationError,
    UsageError,
)

__all__ = ["classify", "translate"]

_CONTAINER_MISSING = re.compile(
    r"NoSuchBucket|ContainerNotFound|specified container does not exist|"
    r"specified bucket does not exist",
    re.I,
)
_AUTH = re.compile(
    r"SignatureDoesNotMatch|InvalidAccessKeyId|AuthenticationFailed|AuthorizationFailure|"
    r"failed to authenticate|InvalidToken|ExpiredToken|Unauthenticated|401 Unauthorized|"
    r"AccessDenied|403 Forbidden|status 403|status 401",
    re.I,
)
_THROTTLE = re.compile(
    r"SlowDown|ServerBusy|TooManyRequests|Too Many Requests|status 429|429 Too|"
    r"503 Service Unavailable|status 503|RequestLimitExceeded|Throttl",
    re.I,
)
_UNREACHABLE = re.compile(
    r"error sending request|connection refused|tcp connect|dns error|failed to lookup|"
    r"timed out|connection reset|Connection closed|operation timed out|"
    r"error trying to connect|No route to host|Name or service not known|"
    r"Could not connect to the endpoint|Read timeout on endpoint|Connect timeout on endpoint",
    re.I,
)
_SERVER = re.compile(
    r"status 5\d\d|Server error|InternalError|500 Internal|"
    r"XAmzContentSHA256Mismatch|BadDigest|Md5Mismatch",  # bytes damaged on the way: resend
    re.I,
)
_NOT_FOUND = re.compile(r"NoSuchKey|NoSuchUpload|BlobNotFound|not found|404", re.I)


def _first_line(message: str) -> str:
    line = message.strip().splitlines()[0] if message.strip() else ""
    return line[:300]


def classify(exc_name: str, message: str) -> type[PasserelleError]:
    """Pick the passerelle error class for an exception's type name and message."""
    if _CONTAINER_MISSING.search(message):
        return ContainerNotFoundError
    if exc_name in ("PreconditionError", "NotModifiedError", "AlreadyExistsError"):
        return PreconditionFailedError
    if exc_name in ("NotSupportedError", "NotImplementedError"):
        return UnsupportedOperationError
    if exc_name in ("FileNotFoundError", "NotFoundError"):
        return ObjectNotFoundError
    if exc_name in ("UnauthenticatedError",):
        return AuthenticationError
    if exc_name in ("PermissionDeniedError", "PermissionError"):
        if re.search(
            r"SignatureDoesNotMatch|InvalidAccessKeyId|AuthenticationFailed|"
            r"AuthorizationFailure|failed to authenticate",
            message,
            re.I,
        ):
            return AuthenticationError
        return PermissionDeniedError
    if _THROTTLE.search(message):
        return ThrottledError
    if _AUTH.search(message):
        return AuthenticationError
    if _UNREACHABLE.search(message):
        return EndpointUnreachableError
    if _SERVER.search(message):
        return ServiceError
    if _NOT_FOUND.search(message):
        return ObjectNotFoundError
    if exc_name == "ValueError":
        return UsageError
    return TerminalError


def _sentence(kind: type[PasserelleError], url: str, key: str | None, op: str, detail: str) -> str:
    target = f"{url.rstrip('/')}/{key}" if key else url
    if kind is ObjectNotFoundError:
        return f"No object at {target}; check the key with `passerelle ls {url}`."
    if kind is ContainerNotFoundError:
        return (
            f"The bucket or container of {url} does not exist; create it "
            "(`passerelle stores create URL`) or fix the URL."
        )
    if kind is AuthenticationError:
        return (
            f"The service at {url} rejected the credentials; check the access key and "
            "secret (or account key) in your config or environment."
        )
    if kind is PermissionDeniedError:
        return f"Permission denied to {op} {target}; ask for access or use other credentials."
    if kind is ThrottledError:
        return (
            f"{url} kept throttling requests ({detail}) after all retries; lower the "
            "request rate or concurrency, or try again later."
        )
    if kind is EndpointUnreachableError:
        return (
            f"Cannot reach the endpoint of {url} ({detail}); check the endpoint, "
            "network and that the service is running."
        )
    if kind is PreconditionFailedError:
        return f"{target} changed while it was being read or written ({detail}); try again."
    if kind is UnsupportedOperationError:
        return f"The store {url} cannot {op}: {detail}."
    if kind is ServiceError:
        return f"The service at {url} failed to {op} {target} ({detail}); try again later."
    if kind is UsageError:
        return f"Cannot {op} {target}: {detail}."
    return f"Cannot {op} {target}: {detail}."


def translate(exc: BaseException, *, url: str, op: str, key: str | None = None) -> PasserelleError:
    """The passerelle error to raise (``from exc``) for ``exc`` raised during ``op``."""
    if isinstance(exc, PasserelleError):
        return exc
    message = str(exc)
    kind = classify(type(exc).__name__, message)
    detail = _first_line(message) or type(exc).__name__
    if kind in (ThrottledError, EndpointUnreachableError, ServiceError):
        detail = _short_detail(message)
    error = kind(_sentence(kind, url, key, op, detail))
    return error


def _short_detail(message: str) -> str:
    for pattern in (_THROTTLE, _UNREACHABLE, _SERVER):
        match = pattern.search(message)
        if match:
            return match.group(0)
    return _first_line(message)[:120]
