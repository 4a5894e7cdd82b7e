"""The pure rule for keys and names: what can never pass, and what must still pass."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passerelle.errors import UsageError
from passerelle.storage.keys import (
    DATASET,
    HUB,
    HUB_PREFIXES,
    MAX_KEY_BYTES,
    check_key,
    check_name,
    check_prefix,
    join_key,
)
from tests.storage.test_contract import HOSTILE_KEYS, HOSTILE_PREFIXES, LONGEST_KEY, TRICKY_KEYS


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=range(len(HOSTILE_KEYS)))
def test_hostile_keys_are_refused_in_one_sentence(key: str) -> None:
    with pytest.raises(UsageError) as refused:
        check_key(key)
    message = str(refused.value)
    assert message.endswith(".") and "\n" not in message and "\x00" not in message


@pytest.mark.parametrize("prefix", HOSTILE_PREFIXES)
def test_hostile_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(UsageError):
        check_prefix(prefix)


@pytest.mark.parametrize(
    "key",
    [*TRICKY_KEYS, LONGEST_KEY, "a/%2e%2e/b", "a/.../b", ".x"],
    ids=range(len(TRICKY_KEYS) + 4),
)
def test_legitimate_keys_pass_unchanged(key: str) -> None:
    assert check_key(key) == key


def test_prefixes_may_end_with_one_slash() -> None:
    assert check_prefix("") == ""
    assert check_prefix("datasets/") == "datasets"
    assert check_prefix("datasets/pmsi") == "datasets/pmsi"
    assert join_key("datasets/", "pmsi", "v1/part.parquet") == "datasets/pmsi/v1/part.parquet"
    with pytest.raises(UsageError):
        join_key("datasets", "../workspaces")


def test_the_length_limit_counts_utf8_bytes() -> None:
    assert len(LONGEST_KEY.encode()) == MAX_KEY_BYTES
    with pytest.raises(UsageError, match="over 1024 bytes"):
        check_key(LONGEST_KEY + "x")


@given(st.text(min_size=0, max_size=60))
def test_an_accepted_key_cannot_climb_or_hide(key: str) -> None:
    try:
        check_key(key)
    except UsageError:
        return
    segments = key.split("/")
    assert "" not in segments and "." not in segments and ".." not in segments
    assert not key.startswith("/") and "\\" not in key
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in key)
    assert posixpath.normpath("/root/" + key).startswith("/root/")  # stays below its root


@given(st.lists(st.sampled_from(["a", "..", ".", "", "b/c", "\\", "x\x00"]), max_size=6))
def test_joining_parts_never_builds_an_escape(parts: list[str]) -> None:
    try:
        key = join_key(*parts)
    except UsageError:
        return
    assert posixpath.normpath("/root/" + key) == "/root/" + key


@pytest.mark.parametrize(
    "name",
    [
        "../../outside",
        "../workspaces/project-1/extracts/pmsi_stays",
        "x/../../y",
        "a\\b",
        "pmsi\n",  # a trailing newline passes re.match with '$'
        "Pmsi",
        "_pmsi",
        "1pmsi",
        "p",
        "pmsi-stays",
        "pmsi.stays",
        "p" * 64,
        "pmsi_quarantine",  # the hub's own derived name
        "",
        "pmsi stays",
        "pmsï",
    ],
)
def test_dataset_names_follow_the_allow_list(name: str) -> None:
    with pytest.raises(UsageError, match="dataset name"):
        check_name(name, DATASET)


@pytest.mark.parametrize("name", ["pmsi_stays", "dcir", "a1", "p" * 63, "quarantine_log"])
def test_valid_dataset_names(name: str) -> None:
    assert check_name(name, DATASET) == name


@pytest.mark.parametrize("name", sorted(HUB_PREFIXES))
def test_a_hub_cannot_be_named_after_its_own_folders(name: str) -> None:
    with pytest.raises(UsageError, match="hub's own folders"):
        check_name(name, HUB)


def test_hub_names() -> None:
    assert check_name("test-hub", HUB) == "test-hub"
    for bad in ("../hub", "Hub", "hub/x", "hub\n", "", "-hub"):
        with pytest.raises(UsageError):
            check_name(bad, HUB)


@given(st.text(max_size=70))
def test_an_accepted_dataset_name_is_one_safe_segment(name: str) -> None:
    try:
        check_name(name, DATASET)
    except UsageError:
        return
    assert check_key(name) == name and "/" not in name and name.isascii()
    assert name.isidentifier() and not name.endswith("_quarantine")
