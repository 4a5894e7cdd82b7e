"""A half-plaintext source migrated to a destination that may hold it only as ciphertext:
each object's first bytes are checked as it is copied (one GET per object, as without the
check); the plaintext ones are refused, never written, and named."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from passerelle.keys.file_custody import FileCustody
from passerelle.migration import RunOptions, plan_migration, run_migration
from passerelle.migration.journal import Journal
from passerelle.migration.planner import PlanOptions
from passerelle.migration.runner import CIPHERTEXT_ONLY_META
from passerelle.sovereignty.ciphertext_guard import CiphertextOnly
from passerelle.sovereignty.envelope import is_envelope
from passerelle.storage import Store, StoreWrapper, open_store
from passerelle.storage.encrypting import EncryptingStore
from passerelle.storage.model import MiB
from tests.backends import new_store_url

RULE = "health-pseudonymized.ciphertext"
PAIRS = [("file", "file"), ("azurite", "ceph")]


class CountingGets(StoreWrapper):
    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.gets: list[str] = []

    def before(self, op: str, key: str | None) -> None:
        if op == "get" and key is not None:
            self.gets.append(key)


def _rules(dst_url: str) -> CiphertextOnly:
    return CiphertextOnly(dst_url, "hub", {"health-pseudonymized": RULE})


def _half_plaintext(src: Store, tmp_path: Path) -> tuple[set[str], set[str]]:
    """Envelopes and plaintext objects interleaved (first, middle, last, empty, multipart)."""
    custody = FileCustody(tmp_path / "kek.json")
    custody.create_key()
    sealed = EncryptingStore(src, custody)
    rng = random.Random(4)
    envelopes, plain = set(), set()
    for i in range(10):
        key = f"datasets/stays/v1/part-{i:02d}.parquet"
        sealed.put(key, rng.randbytes(rng.randint(0, 5000)))
        envelopes.add(key)
    big = rng.randbytes(9 * MiB + 17)
    sealed.put(
        "datasets/stays/v1/part-big.parquet",
        iter([big[i : i + MiB] for i in range(0, len(big), MiB)]),
        size=len(big),
        part_size=5 * MiB,
    )
    envelopes.add("datasets/stays/v1/part-big.parquet")
    for key, body in {
        "datasets/stays/v1/0-first.parquet": b"PAR1 pseudonym rows in clear",
        "datasets/stays/v1/part-05b.parquet": b"PAR1 more rows",
        "datasets/stays/v1/zz-last.parquet": b"PAR1 last rows",
        "datasets/stays/v1/zz-empty.parquet": b"",
        "datasets/stays/v1/zz-big.parquet": b"PAR1" + rng.randbytes(9 * MiB),
    }.items():
        src.put(key, body, size=len(body))
        plain.add(key)
    return envelopes, plain


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_a_half_plaintext_source_copies_only_its_envelopes(tmp_path: Path, a: str, b: str) -> None:
    src_url = new_store_url(a, tmp_path / "a", "halfsrc")
    dst_url = new_store_url(b, tmp_path / "b", "halfdst")
    src, dst = open_store(src_url), open_store(dst_url)
    envelopes, plain = _half_plaintext(src, tmp_path)
    journal = tmp_path / "j.db"
    plan_migration(src_url, dst_url, journal, PlanOptions(part_size=5 * MiB))
    counting = CountingGets(src)
    summary = run_migration(
        journal, RunOptions(concurrency=4, ciphertext_only=_rules(dst_url)), source=counting
    )
    assert summary.copied == len(envelopes)
    assert {k for k, _ in summary.refused} == plain == {k for k, _ in summary.failed}
    assert all(RULE in why and dst_url in why for _, why in summary.refused)
    assert sorted(counting.gets) == sorted(envelopes | plain)  # no request added
    landed = {i.key for i in dst.list()}
    assert landed == envelopes
    assert all(is_envelope(dst.get(k, start=0, end=64).read()) for k in landed)
    assert not list(dst.list_uploads())  # nothing half-written either
    opened = Journal.open(journal)
    rows = {r.key: r for r in opened.iter_objects()}
    opened.close()
    for key in plain:
        assert rows[key].status == "failed" and RULE in (rows[key].error or "")


def test_the_journal_carries_the_rule_to_a_plain_run(tmp_path: Path) -> None:
    src_url = new_store_url("file", tmp_path / "a", "halfsrc")
    dst_url = new_store_url("file", tmp_path / "b", "halfdst")
    envelopes, plain = _half_plaintext(open_store(src_url), tmp_path)
    journal = tmp_path / "j.db"
    plan_migration(src_url, dst_url, journal, PlanOptions(part_size=5 * MiB))
    opened = Journal.open(journal)
    opened.set_meta(CIPHERTEXT_ONLY_META, __import__("json").dumps(_rules(dst_url).to_json()))
    opened.close()
    summary = run_migration(journal)
    assert {k for k, _ in summary.refused} == plain
    assert {i.key for i in open_store(dst_url).list()} == envelopes
    again = run_migration(journal)  # a re-run retries them: refused again
    assert {k for k, _ in again.refused} == plain and again.copied == 0


def test_without_rules_nothing_is_checked(tmp_path: Path) -> None:
    src_url = new_store_url("file", tmp_path / "a", "halfsrc")
    dst_url = new_store_url("file", tmp_path / "b", "halfdst")
    envelopes, plain = _half_plaintext(open_store(src_url), tmp_path)
    journal = tmp_path / "j.db"
    plan_migration(src_url, dst_url, journal, PlanOptions(part_size=5 * MiB))
    summary = run_migration(journal)
    assert summary.complete and summary.copied == len(envelopes | plain)
