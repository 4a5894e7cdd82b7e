"""The per-object guard on a copy to a ciphertext-only destination (in-memory stores, fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.keys.file_custody import FileCustody
from passerelle.sovereignty.ciphertext_guard import (
    CiphertextOnly,
    CiphertextOnlySource,
    PlaintextRefusedError,
    check_envelope_head,
    classify_folder,
)
from passerelle.sovereignty.envelope import HEADER_SIZE, MAGIC, is_envelope
from passerelle.storage import Store, StoreWrapper, open_store
from passerelle.storage.encrypting import EncryptingStore
from tests.backends import unique_name

RULE = "health-pseudonymized.ciphertext"
RULES = CiphertextOnly(
    "s3://elsewhere@bucket",
    "sov-hub",
    {"health-pseudonymized": RULE},
    (("stays", "health-pseudonymized", ("hub:datasets/stays/v1/stays",)),),
)


class Counting(StoreWrapper):
    """Counts the requests a wrapper above it makes."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.calls: list[tuple[str, str | None]] = []

    def before(self, op: str, key: str | None) -> None:
        self.calls.append((op, key))


@pytest.fixture
def raw(tmp_path: Path) -> Counting:
    store = open_store(f"memory://{unique_name('guard')}")
    store.create_container()
    custody = FileCustody(tmp_path / "kek.json")
    custody.create_key()
    sealed = EncryptingStore(store, custody)
    sealed.put("datasets/stays/v1/stays/part-0.parquet", b"PAR1 rows" * 5000)
    sealed.put("datasets/stays/v1/stays/empty.parquet", b"")  # an envelope even when empty
    store.put("datasets/stays/v1/stays/zz-legacy.parquet", b"PAR1 pseudonym-7f3a9c rows")
    store.put("datasets/stays/v1/stays/zero.parquet", b"")
    store.put("datasets/stays/v1/stays/short.parquet", MAGIC + b"\x01")  # magic, no header
    store.put("sov-hub/audit/checkpoints/0001.json", b'{"plain": true}')  # reference
    return Counting(store)


def test_an_envelope_passes_unchanged_with_one_request(raw: Counting) -> None:
    guarded = CiphertextOnlySource(raw, RULES)
    key = "datasets/stays/v1/stays/part-0.parquet"
    body = guarded.get(key).read()
    assert is_envelope(body) and body == raw.inner.get(key).read()
    assert raw.calls == [("get", key)]  # the check reads the copy's own stream


@pytest.mark.parametrize("chunk", [1, 7, HEADER_SIZE - 1, HEADER_SIZE, 64 * 1024])
def test_an_envelope_whose_first_chunk_is_shorter_than_the_header_passes(
    raw: Counting, chunk: int
) -> None:
    key = "datasets/stays/v1/stays/part-0.parquet"
    reader = CiphertextOnlySource(raw, RULES).get(key, chunk_size=chunk)
    assert b"".join(reader) == raw.inner.get(key).read()


def test_an_empty_envelope_passes(raw: Counting) -> None:
    body = CiphertextOnlySource(raw, RULES).get("datasets/stays/v1/stays/empty.parquet").read()
    assert is_envelope(body)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("zz-legacy.parquet", "is not an envelope"),
        ("zero.parquet", "is empty"),
        ("short.parquet", "shorter than an envelope header"),
    ],
)
def test_anything_else_is_refused_when_the_reader_is_opened(
    raw: Counting, name: str, why: str
) -> None:
    key = f"datasets/stays/v1/stays/{name}"
    with pytest.raises(PlaintextRefusedError) as caught:
        CiphertextOnlySource(raw, RULES).get(key, chunk_size=3)
    message = str(caught.value)
    assert key in message and RULE in message and why in message
    assert RULES.destination in message and "re-ingest" in message
    assert caught.value.key == key and caught.value.rule == RULE
    assert raw.calls == [("get", key)]


def test_a_ranged_read_past_the_start_of_a_guarded_key_is_refused(raw: Counting) -> None:
    with pytest.raises(PlaintextRefusedError, match="offset"):
        CiphertextOnlySource(raw, RULES).get("datasets/stays/v1/stays/part-0.parquet", start=10)
    assert raw.calls == []


def test_keys_of_other_classifications_pass_untouched(raw: Counting) -> None:
    key = "sov-hub/audit/checkpoints/0001.json"
    assert CiphertextOnlySource(raw, RULES).get(key).read() == b'{"plain": true}'
    no_rules = CiphertextOnly("file:///x", "sov-hub", {})
    assert no_rules.empty and no_rules.rule_for("datasets/stays/v1/x") is None
    plain = CiphertextOnlySource(raw, no_rules)
    assert plain.get("datasets/stays/v1/stays/zz-legacy.parquet").read().startswith(b"PAR1")


@pytest.mark.parametrize(
    ("head", "ok"),
    [
        (b"", False),
        (b"PAR1", False),
        (MAGIC, False),
        (MAGIC + bytes(HEADER_SIZE - len(MAGIC)), True),
        (b"x" + MAGIC + bytes(HEADER_SIZE), False),
    ],
)
def test_the_decision_on_the_first_bytes(head: bytes, ok: bool) -> None:
    if ok:
        check_envelope_head("k", head, RULE, "d")
    else:
        with pytest.raises(PlaintextRefusedError):
            check_envelope_head("k", head, RULE, "d")


def test_which_keys_are_ciphertext_only() -> None:
    rules = CiphertextOnly(
        "d",
        "sov-hub",
        {"health-pseudonymized": "hp", "health-aggregate": "ha"},
        (
            ("stays", "health-pseudonymized", ("hub:datasets/stays/v1/stays",)),
            ("towns", "reference", ("hub:datasets/towns/v1/towns",)),
            ("stays_quarantine", "health-pseudonymized", ()),
        ),
    )
    assert rules.rule_for("datasets/stays/v1/stays/a.parquet") == "hp"
    assert rules.rule_for("datasets/towns/v1/towns/a.parquet") is None
    assert rules.rule_for("datasets/unknown/v1/a.parquet") == "hp"  # not in the catalog
    assert rules.rule_for("quarantine/stays/a.parquet") == "hp"
    assert rules.rule_for("workspaces/project-1/extracts/towns/a.parquet") is None
    assert rules.rule_for("workspaces/project-1/result.parquet") == "hp"
    assert rules.rule_for("releases/project-1/table.csv") == "ha"
    assert rules.rule_for("releases/project-1/pending/table.csv") == "hp"
    assert rules.rule_for("sov-hub/audit/checkpoints/1.json") is None
    assert rules.rule_for("stray.bin") == "hp"  # no folder claims it: the default
    assert CiphertextOnly.from_json(rules.to_json()) == rules


def test_classify_folder_takes_the_most_sensitive_claim() -> None:
    entries = [
        ("a", "reference", ["hub:datasets/shared/v1/a"]),
        ("b", "health-identifying", ["hub:datasets/shared/v2/b"]),
    ]
    assert classify_folder("datasets", "shared", entries) == "health-identifying"
    assert classify_folder("extract", "a", entries) == "reference"
    assert classify_folder("datasets", "none", entries) == "health-pseudonymized"
