"""Error classification on the exact texts Azurite, Ceph RGW and SeaweedFS produce."""

from __future__ import annotations

import pytest

from passerelle.errors import (
    AuthenticationError,
    ContainerNotFoundError,
    EndpointUnreachableError,
    ObjectNotFoundError,
    PreconditionFailedError,
    ServiceError,
    ThrottledError,
    UnsupportedOperationError,
)
from passerelle.storage.translate import classify, translate

CASES = [
    (
        "PermissionDeniedError",
        "The operation lacked the necessary privileges to complete for path ob/hello.txt: Error "
        "performing GET http://127.0.0.1:7480/probe/ob/hello.txt in 1.27ms - Server returned non-2xx "
        "status code: 403 Forbidden: <?xml version='1.0'?><Error><Code>SignatureDoesNotMatch</Code>",
        AuthenticationError,
    ),
    (
        "GenericError",
        "Generic S3 error: Error performing list request: Error performing GET "
        "http://127.0.0.1:7480/probe?list-type=2 - 403 Forbidden: <Code>SignatureDoesNotMatch</Code>",
        AuthenticationError,
    ),
    (
        "PermissionDeniedError",
        "The operation lacked the necessary privileges to complete for path dir/a.txt: 403 Forbidden:"
        " <Code>AuthorizationFailure</Code>",
        AuthenticationError,
    ),
    (
        "FileNotFoundError",
        "Object at location k not found: Error performing GET http://127.0.0.1:7480/no-such-bucket/k"
        " - 404 Not Found: <Code>NoSuchBucket</Code>",
        ContainerNotFoundError,
    ),
    (
        "GenericError",
        "Generic MicrosoftAzure error: Error performing list request: 404 <Code>ContainerNotFound</Code>",
        ContainerNotFoundError,
    ),
    (
        "FileNotFoundError",
        "Object at location ob/missing not found: 404 Not Found: <Code>NoSuchKey</Code>",
        ObjectNotFoundError,
    ),
    (
        "GenericError",
        "Generic S3 error: Error performing GET http://127.0.0.1:1/probe/k in 2.19s, after 10 retries,"
        " max_retries: 10, retry_timeout: 180s  - HTTP error: error sending request",
        EndpointUnreachableError,
    ),
    (
        "GenericError",
        "Generic S3 error: Error performing GET after 2 retries - Server returned non-2xx status code:"
        " 503 Service Unavailable: <Error><Code>SlowDown</Code></Error>",
        ThrottledError,
    ),
    ("GenericError", "Generic MicrosoftAzure error: 503 <Code>ServerBusy</Code>", ThrottledError),
    ("GenericError", "Generic S3 error: status 500 InternalError", ServiceError),
    (
        "PreconditionError",
        "Request precondition failure for path c.txt: 412",
        PreconditionFailedError,
    ),
    ("AlreadyExistsError", "Object at location x already exists", PreconditionFailedError),
    ("NotSupportedError", "S3 does not support copy-if-not-exists", UnsupportedOperationError),
]


@pytest.mark.parametrize(("name", "message", "expected"), CASES)
def test_classify_real_server_messages(name: str, message: str, expected: type) -> None:
    assert classify(name, message) is expected


def test_translate_makes_one_sentence() -> None:
    exc = FileNotFoundError(
        "Object at location a/b not found: 404 Not Found: <Code>NoSuchKey</Code>"
    )
    error = translate(exc, url="s3://r@bucket", op="read", key="a/b")
    assert (
        str(error)
        == "No object at s3://r@bucket/a/b; check the key with `passerelle ls s3://r@bucket`."
    )
    assert "\n" not in str(error)
