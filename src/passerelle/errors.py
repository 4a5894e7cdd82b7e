"""One error tree for passerelle: every failure a user can cause or meet.

Each error's ``str()`` is one sentence saying what is wrong and what to do next;
the CLI prints it and exits non-zero, never a traceback. ``retryable`` tells the
caller whether trying the same thing again can succeed::

    PasserelleError                      (base; .retryable, .exit_code)
    ├── TerminalError                    retrying the same call cannot help
    │   ├── UsageError                   the user's input is wrong
    │   │   ├── InvalidURLError          a store URL that cannot be parsed
    │   │   │   └── UnknownSchemeError   a scheme passerelle does not know
    │   │   ├── ConfigError              a config file or setting is wrong
    │   │   ├── SourceFormatError        an ingest source cannot be read as declared
    │   │   ├── SchemaMismatchError      an ingest source's columns differ from its schema
    │   │   ├── UnknownProviderError     no provider profile by that name
    │   │   └── QueryError               a research query DuckDB cannot run (.reason)
    │   ├── NotFoundError                missing, or hidden from the caller: not_found(kind, asked)
    │   │   ├── ObjectNotFoundError      no object at that key
    │   │   └── ContainerNotFoundError   no such bucket / container
    │   ├── AuthenticationError          credentials rejected
    │   │   └── AuthenticationThrottled  too many failures from one address (.retry_after)
    │   ├── PermissionDeniedError        credentials valid, action not allowed
    │   │   └── SandboxViolation         a research query the sandbox refuses (.reason)
    │   ├── ConflictError                the request clashes with the current state
    │   ├── PreconditionFailedError      the object changed under a conditional call
    │   ├── LimitExceededError           beyond a provider limit (size, parts)
    │   ├── PolicyViolationError         a sovereignty requirement is not met
    │   ├── KeyUnavailableError          a key is missing, destroyed (crypto-erased) or refused
    │   ├── TamperedDataError            encrypted bytes or a wrapped key fail authentication
    │   └── UnsupportedOperationError    the backend cannot do this
    └── TransientError                   the same call may succeed later
        ├── ThrottledError               the service asks us to slow down
        ├── EndpointUnreachableError     no answer from the endpoint
        ├── TruncatedReadError           a read ended before the object did
        └── ServiceError                 any other server-side failure (5xx)
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "AuthenticationThrottled",
    "ConfigError",
    "ConflictError",
    "ContainerNotFoundError",
    "EndpointUnreachableError",
    "InvalidURLError",
    "KeyUnavailableError",
    "LimitExceededError",
    "NotFoundError",
    "ObjectNotFoundError",
    "PasserelleError",
    "PermissionDeniedError",
    "PolicyViolationError",
    "PreconditionFailedError",
    "QueryError",
    "SandboxViolation",
    "SchemaMismatchError",
    "ServiceError",
    "SourceFormatError",
    "TamperedDataError",
    "TerminalError",
    "ThrottledError",
    "TransientError",
    "TruncatedReadError",
    "UnknownProviderError",
    "UnknownSchemeError",
    "UnsupportedOperationError",
    "UsageError",
    "not_found",
]


class PasserelleError(Exception):
    """Base of every error passerelle raises on purpose."""

    retryable: bool = False
    exit_code: int = 1


class TerminalError(PasserelleError):
    """Retrying the same call cannot succeed; something must change first."""


class TransientError(PasserelleError):
    """The same call may succeed if tried again later (with backoff)."""

    retryable = True


class UsageError(TerminalError):
    """The user's input is wrong."""

    exit_code = 2


class InvalidURLError(UsageError):
    """A store URL that cannot be parsed."""


class UnknownSchemeError(InvalidURLError):
    """A URL scheme passerelle does not support."""


class ConfigError(UsageError):
    """A configuration file or setting is wrong or missing."""


class SourceFormatError(UsageError):
    """An ingest source cannot be read as declared (encoding, truncation, format)."""


class SchemaMismatchError(UsageError):
    """An ingest source's columns or types do not match its declared schema."""


class UnknownProviderError(UsageError):
    """No provider profile has that name."""


class QueryError(UsageError):
    """A research query DuckDB cannot run (syntax, unknown column); ``details`` are audited."""

    def __init__(
        self, message: str, *, reason: str = "invalid-query", details: object = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.details = details


class NotFoundError(TerminalError):
    """Something named does not exist."""


def not_found(kind: str, asked: object) -> NotFoundError:
    """The one answer for a ``kind`` the caller named that is missing *or* hidden from them.

    Only what the caller asked for is echoed, so the message is the same whether
    the thing does not exist or exists out of their sight.
    """
    shown = repr(asked) if isinstance(asked, str) else str(asked)
    return NotFoundError(f"no {kind} {shown} exists that you may see; check the {kind} you named")


class ObjectNotFoundError(NotFoundError):
    """No object at that key."""


class ContainerNotFoundError(NotFoundError):
    """The bucket or container does not exist."""


class AuthenticationError(TerminalError):
    """The service rejected the credentials."""


class AuthenticationThrottled(AuthenticationError):
    """Too many failed authentications came from this address; wait ``retry_after`` seconds."""

    retryable = True

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermissionDeniedError(TerminalError):
    """The credentials are valid but do not allow this action."""


class SandboxViolation(PermissionDeniedError):
    """The research sandbox refused a query; ``reason`` names the rule, ``details`` are audited."""

    def __init__(self, message: str, *, reason: str, details: object = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.details = details


class ConflictError(TerminalError):
    """The request clashes with the current state (duplicate name, wrong status)."""


class PreconditionFailedError(TerminalError):
    """A conditional call failed because the object changed."""


class LimitExceededError(TerminalError):
    """The request exceeds a provider limit (object size, part count...)."""


class PolicyViolationError(TerminalError):
    """A destination fails a required rule (HDS, SecNumCloud, EEA, jurisdiction)."""

    exit_code = 3


class KeyUnavailableError(TerminalError):
    """A key-encryption key is missing, destroyed (crypto-erased) or its custody refused it."""


class TamperedDataError(TerminalError):
    """Encrypted bytes, an envelope header or a wrapped key failed authentication."""


class UnsupportedOperationError(TerminalError):
    """The backend does not offer this operation."""


class ThrottledError(TransientError):
    """The service asked the client to slow down (429, 503 SlowDown, ServerBusy)."""


class EndpointUnreachableError(TransientError):
    """The endpoint did not answer (refused, timed out, DNS failure)."""


class TruncatedReadError(TransientError):
    """A read returned fewer bytes than the object holds."""


class ServiceError(TransientError):
    """The service failed on its side (5xx) for a reason not listed above."""
