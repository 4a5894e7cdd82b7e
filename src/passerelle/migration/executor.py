"""Who runs copy tasks: one small contract, a thread pool here, Dask workers elsewhere.

The coordinator (:mod:`.runner`) claims keys in the journal, submits one
:class:`~passerelle.migration.copy_task.CopyTask` per key, and collects
outcomes as they finish; it alone writes the journal.  An executor only runs
tasks and relays the upload events their resumable uploads report, so that
part receipts reach the journal while a large object is still streaming.  A
task the executor could not finish (its worker died) comes back as a ``lost``
outcome and the coordinator puts its key back in the queue.
"""

from __future__ import annotations

import queue
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from passerelle.migration.copy_task import CopyContext, CopyOutcome, CopyTask, run_copy_task
from passerelle.migration.upload_log import UploadEvent
from passerelle.migration.worker_health import LOCAL_WORKER
from passerelle.storage import Store

__all__ = ["CopyExecutor", "FinishedQueue", "ThreadExecutor"]


class CopyExecutor(Protocol):
    """Runs copy tasks somewhere; the coordinator keeps ``capacity`` of them in flight."""

    @property
    def capacity(self) -> int:
        """How many tasks are worth keeping submitted at once."""
        ...

    @property
    def processes(self) -> int:
        """How many processes hold their own stores (each takes 1/N of the caps)."""
        ...

    def workers(self) -> list[str] | None:
        """The workers running tasks now (None when the executor cannot tell)."""
        ...

    def submit(self, task: CopyTask) -> None: ...

    def finished(self, timeout: float) -> list[CopyOutcome]:
        """Outcomes of tasks that ended, waiting up to ``timeout`` s for the first."""
        ...

    def upload_events(self) -> list[UploadEvent]:
        """Upload events reported since the last call, in the order they were reported."""
        ...

    def close(self) -> None: ...


class FinishedQueue:
    """Futures land here when done; ``take`` turns them into outcomes (``lost`` on error)."""

    def __init__(self) -> None:
        self._done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._tasks: dict[Any, CopyTask] = {}

    def watch(self, future: Any, task: CopyTask) -> None:
        self._tasks[future] = task
        future.add_done_callback(self._done.put)

    def __len__(self) -> int:
        return len(self._tasks)

    def pending(self) -> list[Any]:
        return list(self._tasks)

    def abandon(self, reason: str) -> list[CopyOutcome]:
        """Every task still watched, as ``lost`` (their executor cannot finish them)."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        return [CopyOutcome(t.key, t.size, "lost", error=reason) for t in tasks]

    def take(self, timeout: float) -> list[CopyOutcome]:
        try:
            futures = [self._done.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                futures.append(self._done.get_nowait())
            except queue.Empty:
                break
        return [o for o in map(self._outcome, futures) if o is not None]

    def _outcome(self, future: Any) -> CopyOutcome | None:
        task = self._tasks.pop(future, None)
        if task is None:  # abandoned already
            return None
        try:
            outcome = future.result()
        except BaseException as exc:  # the executor lost the task, not the copy's verdict
            reason = str(exc) or type(exc).__name__
            return CopyOutcome(task.key, task.size, "lost", error=reason)
        assert isinstance(outcome, CopyOutcome)
        return outcome


class ThreadExecutor:
    """Copy tasks on a thread pool of this process (obstore releases the GIL on I/O)."""

    def __init__(self, source: Store, dest: Store, *, threads: int, large_slots: int) -> None:
        self._threads = max(1, threads)
        self._events: queue.SimpleQueue[UploadEvent] = queue.SimpleQueue()
        self._context = CopyContext.build(source, dest, large_slots, self._events.put)
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="passerelle-copy")
        self._finished = FinishedQueue()

    @property
    def capacity(self) -> int:
        return self._threads * 2

    @property
    def processes(self) -> int:
        return 1

    def workers(self) -> list[str] | None:
        return [LOCAL_WORKER]

    def submit(self, task: CopyTask) -> None:
        future: Future[CopyOutcome] = self._pool.submit(run_copy_task, task, self._context)
        self._finished.watch(future, task)

    def finished(self, timeout: float) -> list[CopyOutcome]:
        return self._finished.take(timeout)

    def upload_events(self) -> list[UploadEvent]:
        events: list[UploadEvent] = []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> ThreadExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
