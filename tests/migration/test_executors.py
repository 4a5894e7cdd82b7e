"""The executor contract: the thread pool and Dask (an in-process LocalCluster) run the same tasks."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from passerelle.errors import EndpointUnreachableError, UsageError
from passerelle.migration.cluster import DaskExecutor
from passerelle.migration.copy_task import CopyOutcome, CopyTask, StoreSpec
from passerelle.migration.executor import CopyExecutor, FinishedQueue, ThreadExecutor
from passerelle.storage import Store, open_store
from passerelle.storage.model import MiB
from passerelle.storage.retry import RetryPolicy
from tests.backends import closed_port, new_store_url, unique_name


def _tasks(src: Store, dst: Store, count: int, *, resumable: bool = False) -> list[CopyTask]:
    spec = StoreSpec(src.url, dst.url, large_slots=2, run_token=unique_name("run"))
    tasks = []
    for info in src.list():
        if len(tasks) == count:
            break
        tasks.append(
            CopyTask(
                info.key,
                info.size,
                info.etag,
                None,
                5 * MiB,
                spec,
                resumable=resumable and info.size > 8 * MiB,
                retry=RetryPolicy(max_attempts=2, base_s=0.001),
            )
        )
    return tasks


def _run_all(executor: CopyExecutor, tasks: list[CopyTask]) -> list[CopyOutcome]:
    for task in tasks:
        executor.submit(task)
    outcomes: list[CopyOutcome] = []
    while len(outcomes) < len(tasks):
        outcomes.extend(executor.finished(5.0))
    return outcomes


def _memory_pair(count: int) -> tuple[Store, Store]:
    src = open_store(f"memory://{unique_name('src')}")
    dst = open_store(f"memory://{unique_name('dst')}")
    for i in range(count):
        src.put(f"k/{i:03d}", f"object {i}".encode() * (i + 1))
    return src, dst


def test_thread_executor_runs_tasks_and_returns_every_outcome() -> None:
    src, dst = _memory_pair(30)
    with ThreadExecutor(src, dst, threads=4, large_slots=2) as executor:
        assert (executor.capacity, executor.processes) == (8, 1)
        outcomes = _run_all(executor, _tasks(src, dst, 30))
        assert executor.finished(0.01) == []
        assert executor.upload_events() == []
    assert sorted(o.key for o in outcomes) == [f"k/{i:03d}" for i in range(30)]
    assert {o.status for o in outcomes} == {"done"}
    assert all(dst.get(o.key).read() == src.get(o.key).read() for o in outcomes)


def test_a_task_the_executor_lost_comes_back_lost_not_failed() -> None:
    finished = FinishedQueue()
    spec = StoreSpec("memory://a", "memory://b")
    task = CopyTask("k", 3, None, None, 5 * MiB, spec)
    future: Future[CopyOutcome] = Future()
    finished.watch(future, task)
    assert len(finished) == 1 and finished.take(0.01) == []
    future.set_exception(ConnectionResetError("worker tcp://w:1 died"))
    (outcome,) = finished.take(1.0)
    assert (outcome.key, outcome.status, outcome.error) == ("k", "lost", "worker tcp://w:1 died")
    assert len(finished) == 0


@pytest.fixture
def local_cluster() -> Iterator[DaskExecutor]:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=2, processes=False, dashboard_address=None
    )
    executor = DaskExecutor(distributed.Client(cluster, set_as_default=False), cluster)
    try:
        yield executor
    finally:
        executor.close()


def test_dask_executor_runs_the_same_tasks(local_cluster: DaskExecutor) -> None:
    src, dst = _memory_pair(40)  # in-process workers share the memory stores
    assert (local_cluster.capacity, local_cluster.processes) == (8, 2)
    outcomes = _run_all(local_cluster, _tasks(src, dst, 40))
    assert len(outcomes) == 40 and {o.status for o in outcomes} == {"done"}
    assert {i.key for i in dst.list()} == {i.key for i in src.list()}


def test_dask_executor_relays_upload_events_and_aborts_a_dead_workers_upload(
    local_cluster: DaskExecutor, tmp_path: Path
) -> None:
    src = open_store(f"memory://{unique_name('src')}")
    dst = open_store(new_store_url("ceph", tmp_path, "dst"))
    src.put("big.bin", b"q" * (12 * MiB), part_size=5 * MiB)
    src.put("small.bin", b"s")
    orphan = dst.start_upload("big.bin")  # as a worker killed mid-upload left it
    orphan.upload_part(1, b"o" * (5 * MiB))
    (big,) = [t for t in _tasks(src, dst, 2, resumable=True) if t.resumable]
    (outcome,) = _run_all(local_cluster, [big])
    assert outcome.status == "done" and outcome.parts_sent == 3
    events: list[str] = []
    for _ in range(50):  # events travel through the scheduler: they may trail the result
        events += [e.kind for e in local_cluster.upload_events()]
        if events and events[-1] == "end":
            break
        local_cluster.finished(0.1)
    assert events == ["start", "part", "part", "part", "end"]
    assert list(dst.list_uploads()) == []  # the orphan was aborted, ours completed
    assert dst.get("big.bin").read() == b"q" * (12 * MiB)


def test_an_unreachable_scheduler_is_one_sentence() -> None:
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{closed_port()}"
    with pytest.raises(EndpointUnreachableError) as caught:
        DaskExecutor.connect(address, timeout=1.0)
    message = str(caught.value)
    assert message.startswith(f"The Dask scheduler at {address} did not answer")
    assert message.endswith("start it (`dask scheduler`) or fix --cluster.")
    assert "\n" not in message


def test_without_dask_installed_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(UsageError, match=r"need Dask distributed, which is not installed"):
        DaskExecutor.local(2)
    with pytest.raises(UsageError, match=r"pip install 'dask\[distributed\]'"):
        DaskExecutor.connect("tcp://127.0.0.1:1")
