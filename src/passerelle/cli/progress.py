"""Progress displays for long commands: a Rich bar on a terminal, periodic lines otherwise."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

from passerelle.cli.render import human_size

if TYPE_CHECKING:
    from passerelle.migration.worker_health import WorkerHealth

__all__ = ["LineProgress", "RichProgress", "describe_worker", "make_progress"]


def describe_worker(worker: WorkerHealth) -> str:
    """One worker's line: name, objects and bytes done, failures, last seen, alive or lost."""
    seen = (worker.last_seen or "never")[:19].replace("T", " ")
    return (
        f"{worker.name}: {worker.objects} objects, {human_size(worker.bytes)}, "
        f"{worker.failures} failures, last seen {seen}, {'alive' if worker.alive else 'LOST'}"
    )


class LineProgress:
    """One status line every ``every`` seconds (logs, CI, pipes)."""

    def __init__(self, label: str, every: float = 5.0) -> None:
        self.label = label
        self.every = every
        self.objects = self.bytes = self.retries = 0
        self.total_objects = self.total_bytes = 0
        self._started = self._last = time.monotonic()
        self._lock = threading.Lock()
        self._workers: list[WorkerHealth] = []

    def start(self, objects: int, total_bytes: int) -> None:
        self.total_objects, self.total_bytes = objects, total_bytes
        self._line()

    def advance(self, objects: int, nbytes: int) -> None:
        with self._lock:
            self.objects += objects
            self.bytes += nbytes
            if time.monotonic() - self._last >= self.every:
                self._line()

    def retry(self) -> None:
        with self._lock:
            self.retries += 1

    def workers(self, table: list[WorkerHealth]) -> None:
        """The coordinator's per-worker table, printed under the next status line."""
        with self._lock:
            self._workers = list(table)

    def finish(self) -> None:
        self._line()

    def _line(self) -> None:
        self._last = time.monotonic()
        elapsed = max(1e-9, self._last - self._started)
        rate = self.bytes / elapsed
        left = max(0, self.total_bytes - self.bytes)
        eta = f"{left / rate:.0f} s" if rate > 0 else "unknown"
        sys.stderr.write(
            f"{self.label}: {self.objects}/{self.total_objects} objects, "
            f"{human_size(self.bytes)}/{human_size(self.total_bytes)}, "
            f"{human_size(int(rate))}/s, ETA {eta}, {self.retries} retries\n"
        )
        for worker in self._workers:
            sys.stderr.write(f"  {describe_worker(worker)}\n")
        sys.stderr.flush()


class RichProgress:
    """A live bar with objects, bytes, rate, ETA and retries."""

    def __init__(self, label: str) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        from passerelle.cli.render import error_console

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[detail]}"),
            console=error_console(),
            transient=False,
        )
        self._task = self._progress.add_task(label, total=0, detail="")
        self.objects = self.retries = 0
        self.total_objects = 0
        self._lock = threading.Lock()
        self._worker_tasks: dict[str, object] = {}

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def start(self, objects: int, total_bytes: int) -> None:
        self.total_objects = objects
        self._progress.update(self._task, total=total_bytes, detail=self._detail())

    def _detail(self) -> str:
        return f"{self.objects}/{self.total_objects} objects, {self.retries} retries"

    def advance(self, objects: int, nbytes: int) -> None:
        with self._lock:
            self.objects += objects
            self._progress.update(self._task, advance=nbytes, detail=self._detail())

    def retry(self) -> None:
        with self._lock:
            self.retries += 1
            self._progress.update(self._task, detail=self._detail())

    def workers(self, table: list[WorkerHealth]) -> None:
        """One row per worker under the bar: its bytes, rate, objects, failures, alive or lost."""
        with self._lock:
            for worker in table:
                task = self._worker_tasks.get(worker.name)
                if task is None:
                    task = self._progress.add_task(f"  {worker.name}", total=None, detail="")
                    self._worker_tasks[worker.name] = task
                state = "alive" if worker.alive else "LOST"
                self._progress.update(
                    task,  # type: ignore[arg-type]
                    completed=worker.bytes,
                    detail=f"{worker.objects} objects, {worker.failures} failures, {state}",
                )

    def finish(self) -> None:
        self._progress.refresh()


def make_progress(label: str) -> LineProgress | RichProgress:
    return RichProgress(label) if sys.stderr.isatty() else LineProgress(label)
