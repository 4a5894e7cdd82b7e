"""Copy tasks on Dask workers: a local cluster of processes, or a running scheduler.

``DaskExecutor.local(n)`` starts a ``LocalCluster`` of ``n`` worker processes;
``DaskExecutor.connect("tcp://host:8786")`` joins a running scheduler.  Each
worker process opens the run's stores once from the task's
:class:`~passerelle.migration.copy_task.StoreSpec` (the URLs and only the
remotes they use; the spec prints no credential) and keeps them for the run,
with its own 1/N share of the rate and bandwidth caps.  Upload events travel
back as Dask events on a topic of the run, so the coordinator journals part
receipts while a large object is still streaming.  The journal never leaves
the coordinator.  ``distributed`` is imported only here, and only when asked.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import replace
from typing import Any

from passerelle.errors import EndpointUnreachableError, PasserelleError, UsageError
from passerelle.migration.copy_task import (
    CopyContext,
    CopyOutcome,
    CopyTask,
    event_from_plain,
    event_to_plain,
    run_copy_task,
)
from passerelle.migration.executor import FinishedQueue
from passerelle.migration.upload_log import UploadEvent

__all__ = ["DaskExecutor", "run_on_worker"]

CONNECT_TIMEOUT_S = 10.0
"""How long to wait for a scheduler to answer, and for its first worker to join."""

_contexts: dict[tuple[str, str], CopyContext] = {}
_contexts_lock = threading.Lock()


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise UsageError(
            "--workers and --cluster need Dask distributed, which is not installed; "
            "install it with `pip install 'dask[distributed]'`."
        ) from None
    return distributed


class _QuietDaskLogs:
    """Keep Dask's own log lines (tracebacks of a lost scheduler) out of our output.

    The coordinator reports what happened in its own sentence (``lost_reason``);
    the client's reconnect attempts and stream tracebacks would only bury it.
    """

    PREFIXES = ("distributed", "tornado")

    def __init__(self) -> None:
        self._saved: dict[str, int] = {}

    def __enter__(self) -> _QuietDaskLogs:
        names = [*self.PREFIXES, *logging.root.manager.loggerDict]
        for name in names:
            if name.split(".")[0] in self.PREFIXES and name not in self._saved:
                logger = logging.getLogger(name)
                self._saved[name] = logger.level
                logger.setLevel(logging.CRITICAL + 1)
        return self

    def __exit__(self, *exc: object) -> None:
        for name, level in self._saved.items():
            logging.getLogger(name).setLevel(level)
        self._saved.clear()


def _join(distributed: Any, address: str, timeout: float) -> Any:
    """A client of the scheduler at ``address`` once a worker has joined it."""
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise EndpointUnreachableError(
            f"The Dask scheduler at {address} did not answer within {timeout:g} s "
            f"({type(exc).__name__}); start it (`dask scheduler`) or fix --cluster."
        ) from None
    except ValueError as exc:
        raise UsageError(f"--cluster {address!r} is not a scheduler address: {exc}.") from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError):
        client.close()
        raise EndpointUnreachableError(
            f"No Dask worker joined the scheduler at {address} within {timeout:g} s; "
            f"start some with `dask worker {address}`."
        ) from None
    return client


def _worker_context(task: CopyTask, topic: str) -> CopyContext:
    """This worker's opened stores for the run (one set per worker and run)."""
    from distributed import get_worker

    worker = get_worker()
    cache_key = (task.stores.run_token, str(worker.address))
    with _contexts_lock:
        context = _contexts.get(cache_key)
        if context is None:
            src, dst = task.stores.open()

            def report(event: UploadEvent) -> None:
                worker.log_event(topic, event_to_plain(event))

            context = CopyContext.build(src, dst, task.stores.large_slots, report)
            for stale in [k for k in _contexts if k[1] == cache_key[1]]:
                del _contexts[stale]  # an earlier run's stores on this worker
            _contexts[cache_key] = context
    return context


def run_on_worker(task: CopyTask, topic: str) -> CopyOutcome:
    """Run one copy task inside a Dask worker (what the coordinator submits)."""
    try:
        context = _worker_context(task, topic)
        if task.resumable:
            # Dask runs a task again when its worker died: that worker's upload of
            # this key, unknown to the journal, must not stay behind.
            keep = task.upload.upload_id if task.upload is not None else None
            context.dest.abort_uploads(task.key, keep=keep)
    except PasserelleError as exc:
        return CopyOutcome(task.key, task.size, "failed", error=str(exc), worker=_worker_name())
    except Exception as exc:
        reason = f"unexpected {type(exc).__name__}: {exc}"
        return CopyOutcome(task.key, task.size, "failed", error=reason, worker=_worker_name())
    return replace(run_copy_task(task, context), worker=_worker_name())


def _worker_name() -> str:
    from distributed import get_worker

    return str(get_worker().address)


class DaskExecutor:
    """Copy tasks on the workers of a Dask cluster, results collected as they finish."""

    def __init__(self, client: Any, cluster: Any = None, quiet: Any = None) -> None:
        self._client = client
        self._quiet = quiet
        self._cluster = cluster
        self._finished = FinishedQueue()
        self._events: queue.SimpleQueue[UploadEvent] = queue.SimpleQueue()
        self._token = uuid.uuid4().hex[:12]
        self._topic = f"passerelle-uploads-{self._token}"
        self._count = 0
        self._unsent: list[CopyOutcome] = []
        self._down_since: float | None = None
        self._gone_reason = f"the Dask scheduler at {client.scheduler.address} stopped answering"
        client.subscribe_topic(self._topic, self._on_event)
        nthreads: dict[str, int] = dict(client.nthreads())
        self._workers = max(1, len(nthreads))
        self._threads = max(1, sum(int(n) for n in nthreads.values()))

    @classmethod
    def local(cls, workers: int, threads_per_worker: int = 4) -> DaskExecutor:
        """A ``LocalCluster`` of ``workers`` processes on this machine, closed with us."""
        distributed = _distributed()
        quiet = _QuietDaskLogs().__enter__()
        cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=max(1, threads_per_worker),
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        try:
            client = distributed.Client(cluster)
            return cls(client, cluster, quiet)
        except BaseException:
            cluster.close()
            quiet.__exit__()
            raise

    @classmethod
    def connect(cls, address: str, timeout: float = CONNECT_TIMEOUT_S) -> DaskExecutor:
        """Join the Dask scheduler at ``address`` (``tcp://host:8786``) and its workers."""
        distributed = _distributed()
        quiet = _QuietDaskLogs().__enter__()
        try:
            client = _join(distributed, address, timeout)
            return cls(client, quiet=quiet)
        except BaseException:
            quiet.__exit__()
            raise

    @property
    def capacity(self) -> int:
        return self._threads * 2

    @property
    def processes(self) -> int:
        return self._workers

    def workers(self) -> list[str] | None:
        """The addresses of the scheduler's workers now (None when it does not answer)."""
        if self._client.status != "running":
            return None
        try:
            info = self._client.scheduler_info()
        except Exception:  # the scheduler is gone: the caller keeps what it knew
            return None
        return sorted(str(address) for address in info.get("workers", {}))

    def submit(self, task: CopyTask) -> None:
        if self._gone():  # a task sent now would never come back: lost at once
            self._unsent.append(CopyOutcome(task.key, task.size, "lost", error=self._gone_reason))
            return
        self._count += 1
        future = self._client.submit(
            run_on_worker,
            task,
            self._topic,
            key=f"passerelle-copy-{self._token}-{self._count}",
            pure=False,
        )
        self._finished.watch(future, task)

    def finished(self, timeout: float) -> list[CopyOutcome]:
        if self._unsent:
            unsent, self._unsent = self._unsent, []
            return unsent + self._finished.take(0)
        outcomes = self._finished.take(timeout)
        if not outcomes and len(self._finished) and self._gone():
            return self._finished.abandon(self._gone_reason)
        return outcomes

    def _gone(self) -> bool:
        """The scheduler stopped answering for longer than the client waits to reconnect."""
        if self._client.status == "running":
            self._down_since = None
            return False
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
        return self._client.status in ("closed", "closing") or (
            now - self._down_since >= CONNECT_TIMEOUT_S
        )

    def _on_event(self, event: tuple[float, Any]) -> None:
        self._events.put(event_from_plain(event[1]))

    def upload_events(self) -> list[UploadEvent]:
        events: list[UploadEvent] = []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def close(self) -> None:
        try:
            pending = self._finished.pending()
            if self._client.status == "running":
                if pending:
                    self._client.cancel(pending)
                self._client.unsubscribe_topic(self._topic)
        finally:
            try:
                self._client.close()
                if self._cluster is not None:
                    self._cluster.close()
            finally:
                if self._quiet is not None:
                    self._quiet.__exit__()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
