"""One object's copy as a plain task: done, changed, failed, abandoned; picklable; no secrets."""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from passerelle.errors import PermissionDeniedError, ServiceError
from passerelle.migration.copy_task import (
    CopyContext,
    CopyTask,
    StoreSpec,
    event_from_plain,
    event_to_plain,
    portable_config,
    run_copy_task,
)
from passerelle.migration.upload_log import PartRecord, UploadEvent, UploadState
from passerelle.storage import Store, StoreWrapper, open_store
from passerelle.storage.base import ObjectReader
from passerelle.storage.config import RemoteConfig, StorageConfig
from passerelle.storage.model import MiB
from passerelle.storage.retry import RetryPolicy
from tests.backends import new_store_url, unique_name

FAST = RetryPolicy(max_attempts=3, base_s=0.001, cap_s=0.01)


def _stores(tmp_path: Path, dst_backend: str = "memory") -> tuple[Store, Store]:
    src = open_store(f"memory://{unique_name('src')}")
    dst = open_store(new_store_url(dst_backend, tmp_path, "dst"))
    return src, dst


def _task(src: Store, dst: Store, key: str, **extra: object) -> CopyTask:
    info = src.head(key)
    fields: dict[str, object] = {
        "key": key,
        "size": info.size,
        "source_etag": info.etag,
        "dest_class": None,
        "part_size": 5 * MiB,
        "stores": StoreSpec(src.url, dst.url),
        "retry": FAST,
    }
    fields.update(extra)
    return CopyTask(**fields)  # type: ignore[arg-type]


def _context(src: Store, dst: Store, events: list[UploadEvent] | None = None) -> CopyContext:
    return CopyContext.build(src, dst, 2, (events if events is not None else []).append)


def test_done_carries_the_proof_and_the_journal_row(tmp_path: Path) -> None:
    src, dst = _stores(tmp_path)
    src.put("a/one.csv", b"hello", content_type="text/csv")
    outcome = run_copy_task(_task(src, dst, "a/one.csv"), _context(src, dst))
    assert outcome.status == "done" and outcome.error is None
    assert outcome.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert outcome.md5 == hashlib.md5(b"hello").hexdigest()
    assert outcome.dest_etag == dst.head("a/one.csv").etag
    assert outcome.copied_at and outcome.retries == 0
    row = outcome.journal_row()
    assert row["status"] == "done" and row["key"] == "a/one.csv"
    assert set(row) == {
        "key",
        "status",
        "error",
        "sha256",
        "md5",
        "dest_etag",
        "parts",
        "copied_at",
        "retries",
    }
    assert dst.get("a/one.csv").read() == b"hello"


def test_large_object_streams_in_parts_to_a_local_folder(tmp_path: Path) -> None:
    src, dst = _stores(tmp_path, "file")
    data = bytes(range(256)) * (48 * 1024 + 7)  # about 12 MiB
    src.put("big.bin", data, part_size=5 * MiB)
    outcome = run_copy_task(_task(src, dst, "big.bin"), _context(src, dst))
    assert outcome.status == "done"
    assert outcome.sha256 == hashlib.sha256(data).hexdigest()
    assert dst.get("big.bin").read() == data


def test_source_changed_or_deleted_is_changed_never_done(tmp_path: Path) -> None:
    src, dst = _stores(tmp_path)
    src.put("k", b"v1")
    task = _task(src, dst, "k")
    src.put("k", b"v2 is longer")
    outcome = run_copy_task(task, _context(src, dst))
    assert (outcome.status, outcome.error) == ("changed", "the source changed during the copy")
    src.delete("k")
    outcome = run_copy_task(task, _context(src, dst))
    assert (outcome.status, outcome.error) == ("changed", "the source was deleted before the copy")
    assert list(dst.list()) == []


class _Refusing(StoreWrapper):
    """A destination that refuses writes (terminal) or breaks in an unexpected way."""

    def __init__(self, inner: Store, error: Exception, times: int = 10**9) -> None:
        super().__init__(inner)
        self.error = error
        self.times = times

    def before(self, op: str, key: str | None) -> None:
        if op == "put" and self.times > 0:
            self.times -= 1
            raise self.error


def test_terminal_and_unexpected_errors_are_failed_with_their_reason(tmp_path: Path) -> None:
    src, dst = _stores(tmp_path)
    src.put("k", b"v")
    denied = _Refusing(dst, PermissionDeniedError("Writing k is not allowed; ask the owner."))
    outcome = run_copy_task(_task(src, dst, "k"), _context(src, denied))
    assert (outcome.status, outcome.error) == ("failed", "Writing k is not allowed; ask the owner.")
    broken = _Refusing(dst, RuntimeError("boom"))
    outcome = run_copy_task(_task(src, dst, "k"), _context(src, broken))
    assert (outcome.status, outcome.error) == ("failed", "unexpected RuntimeError: boom")


def test_transient_errors_are_retried_and_counted(tmp_path: Path) -> None:
    src, dst = _stores(tmp_path)
    src.put("k", b"v")
    flaky = _Refusing(dst, ServiceError("The service failed; retry."), times=2)
    outcome = run_copy_task(_task(src, dst, "k"), _context(src, flaky))
    assert outcome.status == "done" and outcome.retries == 2
    exhausted = _Refusing(dst, ServiceError("The service failed; retry."))
    outcome = run_copy_task(_task(src, dst, "k"), _context(src, exhausted))
    assert outcome.status == "failed" and outcome.retries == FAST.max_attempts - 1


class _BreaksMidway(StoreWrapper):
    """A source whose reads end in a terminal error before their last byte."""

    def wrap_reader(self, reader: ObjectReader, key: str) -> ObjectReader:
        def chunks() -> Iterator[bytes]:
            data = reader.read()
            for start in range(0, len(data) - MiB, MiB):
                yield data[start : start + MiB]
            raise PermissionDeniedError("The source refused the rest; ask its owner.")

        return ObjectReader(reader.info, chunks(), reader.expected, label=key)


def test_a_failed_resumable_copy_abandons_its_upload(tmp_path: Path) -> None:
    src, dst = _stores(tmp_path, "ceph")
    src.put("big.bin", b"z" * (12 * MiB), part_size=5 * MiB)
    events: list[UploadEvent] = []
    task = _task(src, dst, "big.bin", resumable=True)
    outcome = run_copy_task(task, _context(_BreaksMidway(src), dst, events))
    assert outcome.status == "failed"
    assert "refused the rest" in (outcome.error or "")
    assert events[0].kind == "start"
    assert events[-1].kind == "end" and not events[-1].completed  # forgotten by the journal
    assert list(dst.list_uploads()) == []  # and aborted at the destination
    outcome = run_copy_task(task, _context(src, dst, events))
    assert outcome.status == "done" and outcome.parts_sent == 3
    assert events[-1].kind == "end" and events[-1].completed


def test_a_task_is_plain_data_that_prints_no_credential() -> None:
    remote = RemoteConfig(name="scw", type="s3", access_key_id="AK", secret_access_key="s3cr3t")
    spec = StoreSpec(
        "az://a@c",
        "s3://scw@b",
        config=StorageConfig(remotes={"scw": remote}),
        max_bandwidth=100.0,
        max_requests_per_second=10.0,
    )
    state = UploadState("k", "up-1", 5 * MiB, "etag", {1: PartRecord(1, 5 * MiB, "e1", "ab")})
    task = CopyTask("k", 12 * MiB, '"etag"', "STANDARD", 5 * MiB, spec, True, state)
    assert pickle.loads(pickle.dumps(task)) == task
    assert "s3cr3t" not in repr(task) and "AK" not in repr(task)
    half = spec.share(4)
    assert (half.max_bandwidth, half.max_requests_per_second) == (25.0, 2.5)
    assert spec.share(1) is spec


def test_portable_config_ships_only_the_remotes_the_urls_use() -> None:
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "AK",
        "AWS_SECRET_ACCESS_KEY": "SK",
        "UNRELATED_SECRET": "do not ship",
    }
    other = RemoteConfig(name="other", type="s3", secret_access_key="x")
    mine = RemoteConfig(name="mine", type="az", account="acct", account_key="k")
    sw = RemoteConfig(name="sw", type="swift", auth_url="http://h/auth/1.0", user="a:b", key="k")
    config = StorageConfig(remotes={"other": other, "mine": mine, "sw": sw}, env=env)
    portable = portable_config(["s3://bucket/p", "az://mine@container", "swift://sw@c"], config)
    assert portable is not None
    assert portable.env == {}
    assert portable.remote_for("az", "mine") == mine
    assert portable.remote_for("swift", "sw") == sw
    assert portable.remote_for("s3", None).secret_access_key == "SK"
    assert "other" not in portable.remotes
    assert portable_config(["memory://a", "file:///tmp/x"], config) is None


@pytest.mark.parametrize(
    "event",
    [
        UploadEvent("start", "k", state=UploadState("k", "u", 5, "e"), at="t0"),
        UploadEvent("part", "k", part=PartRecord(2, 5, "etag", "sha"), at="t1"),
        UploadEvent("end", "k", completed=True, at="t2"),
    ],
)
def test_upload_events_survive_a_plain_message_bus(event: UploadEvent) -> None:
    assert event_from_plain(event_to_plain(event)) == event


def test_a_spec_with_ciphertext_only_rules_refuses_plaintext_in_any_process(
    tmp_path: Path,
) -> None:
    from passerelle.sovereignty.ciphertext_guard import CiphertextOnly

    src, dst = _stores(tmp_path)
    rule = "health-pseudonymized.ciphertext"
    rules = CiphertextOnly(dst.url, "hub", {"health-pseudonymized": rule})
    spec = pickle.loads(pickle.dumps(StoreSpec(src.url, dst.url, ciphertext_only=rules)))
    key = "datasets/stays/v1/part-00.parquet"
    src.put(key, b"PAR1 plaintext rows")
    guarded_src, opened_dst = spec.open()  # as a Dask worker opens them
    outcome = run_copy_task(_task(src, dst, key, stores=spec), _context(guarded_src, opened_dst))
    assert (outcome.status, outcome.refused) == ("failed", rule)
    assert "was not copied" in (outcome.error or "")
    assert outcome.journal_row()["status"] == "failed" and "refused" not in outcome.journal_row()
    assert list(dst.list()) == []  # nothing was written


class _SlowAndWatchedParts(StoreWrapper):
    """A destination whose part uploads take turns being slow, and which checks that no part's
    bytes change while its upload is in flight (a buffer reused too early would)."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.sent: list[int] = []
        self.changed: list[int] = []

    def start_upload(self, key: str, **kwargs: object) -> object:  # type: ignore[override]
        upload = self.inner.start_upload(key, **kwargs)  # type: ignore[arg-type]
        watcher = self

        class Watched:
            key = upload.key
            upload_id = upload.upload_id

            def __getattr__(self, name: str) -> object:
                return getattr(upload, name)

            def upload_part(self, number: int, data: bytearray, **kw: object) -> object:
                before = hashlib.sha256(data).digest()
                if number % 2:
                    time.sleep(0.05)  # odd parts finish after the next even one
                sent = upload.upload_part(number, data, **kw)  # type: ignore[arg-type]
                time.sleep(0.01)
                if hashlib.sha256(data).digest() != before:
                    watcher.changed.append(number)
                watcher.sent.append(number)
                return sent

        return Watched()


def test_part_buffers_are_reused_only_once_their_upload_is_over(tmp_path: Path) -> None:
    src, dst = _stores(tmp_path, "ceph")
    data = os.urandom(9 * 5 * MiB + 12345)  # ten parts, every one different
    src.put("big.bin", data, part_size=5 * MiB)
    watched = _SlowAndWatchedParts(dst)
    outcome = run_copy_task(_task(src, dst, "big.bin", resumable=True), _context(src, watched))
    assert outcome.status == "done", outcome.error
    assert sorted(watched.sent) == list(range(1, 11)) and watched.sent != sorted(watched.sent)
    assert watched.changed == []
    assert outcome.sha256 == hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(dst.get("big.bin").read()).hexdigest() == outcome.sha256
