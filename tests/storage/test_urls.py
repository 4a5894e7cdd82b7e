from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passerelle.errors import InvalidURLError, UnknownSchemeError, UsageError
from passerelle.storage.urls import StoreURL, parse_store_url, split_object_url, validate_key


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://bucket", StoreURL("s3", "bucket", "", None)),
        ("s3://bucket/a/b/", StoreURL("s3", "bucket", "a/b", None)),
        ("s3://scaleway@hdh-prod/extracts", StoreURL("s3", "hdh-prod", "extracts", "scaleway")),
        ("az://container/x", StoreURL("az", "container", "x", None)),
        ("azure://hub@container", StoreURL("az", "container", "", "hub")),
        ("memory://", StoreURL("memory", "default", "", None)),
        ("memory://demo/p", StoreURL("memory", "demo", "p", None)),
        ("file:///tmp/x/../y", StoreURL("file", "/tmp/y", "", None)),
        ("/var/data", StoreURL("file", "/var/data", "", None)),
    ],
)
def test_parse_valid_urls(url: str, expected: StoreURL) -> None:
    assert parse_store_url(url) == expected


def test_relative_paths_resolve_against_cwd() -> None:
    assert parse_store_url("./data", cwd="/srv") == StoreURL("file", "/srv/data", "", None)


@pytest.mark.parametrize(
    ("url", "error", "words"),
    [
        ("gs://bucket", UnknownSchemeError, "Unknown store scheme"),
        ("ftp://host/x", UnknownSchemeError, "az://, s3://"),
        ("s3://", InvalidURLError, "names no bucket"),
        ("az:///prefix", InvalidURLError, "names no container"),
        ("s3://Bad_Bucket", InvalidURLError, "not a valid S3 bucket name"),
        ("az://a--b", InvalidURLError, "not a valid Azure container name"),
        ("s3://bucket/../etc", UsageError, "segment"),
        ("", InvalidURLError, "empty"),
        ("bucket/key", InvalidURLError, "not a store URL"),
        ("file://relative/path", InvalidURLError, "absolute"),
        ("s3://bad name@bucket", InvalidURLError, "remote name"),
    ],
)
def test_parse_invalid_urls_say_what_to_do(url: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        parse_store_url(url)


def test_split_object_url() -> None:
    parent, key = split_object_url("s3://r@bucket/a/b/c.txt")
    assert str(parent) == "s3://r@bucket" and key == "a/b/c.txt"
    parent, key = split_object_url("file:///data/x.csv")
    assert str(parent) == "file:///data" and key == "x.csv"
    with pytest.raises(InvalidURLError):
        split_object_url("s3://bucket")


@given(st.text(min_size=1, max_size=80))
def test_validate_key_never_allows_escapes(key: str) -> None:
    try:
        validate_key(key)
    except UsageError:
        return
    segments = key.rstrip("/").split("/")
    assert ".." not in segments and "." not in segments and "" not in segments
    assert not key.startswith("/")


@given(st.lists(st.text(alphabet="abcz09-_.", min_size=1, max_size=8), min_size=1, max_size=5))
def test_str_roundtrip(parts: list[str]) -> None:
    prefix = "/".join(p for p in parts if p not in (".", ".."))
    if not prefix:
        return
    url = StoreURL("s3", "bucket", prefix, "r")
    assert parse_store_url(str(url)) == url
