"""Progress displays for long commands: a Rich bar on a terminal, periodic lines otherwise."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType

from passerelle.cli.render import human_size

__all__ = ["LineProgress", "RichProgress", "make_progress"]


class LineProgress:
    """One status line every ``every`` seconds (logs, CI, pipes)."""

    def __init__(self, label: str, every: float = 5.0) -> None:
        self.label = label
        self.every = every
        self.objects = self.bytes = self.retries = 0
        self.total_objects = self.total_bytes = 0
        self._started = self._last = time.monotonic()
        self._lock = threading.Lock()

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

    def finish(self) -> None:
        self._line()

    def _line(self) -> None:
        self._last = time.monotonic()
        elapsed = max(1e-9, self._last - self._started)
        rate = self.bytes / elapsed
        sys.stderr.write(
            f"{self.label}: {self.objects}/{self.total_objects} objects, "
            f"{human_size(self.bytes)}/{human_size(self.total_bytes)}, "
            f"{human_size(int(rate))}/s, {self.retries} retries\n"
        )
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
            TextColumn(f"{label}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[objects]} objects, {task.fields[retries]} retries"),
            console=error_console(),
            transient=False,
        )
        self._task = self._progress.add_task(label, total=0, objects="0", retries=0)
        self.objects = self.retries = 0
        self.total_objects = 0
        self._lock = threading.Lock()

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def start(self, objects: int, total_bytes: int) -> None:
        self.total_objects = objects
        self._progress.update(self._task, total=total_bytes, objects=f"0/{objects}")

    def advance(self, objects: int, nbytes: int) -> None:
        with self._lock:
            self.objects += objects
            self._progress.update(
                self._task, advance=nbytes, objects=f"{self.objects}/{self.total_objects}"
            )

    def retry(self) -> None:
        with self._lock:
            self.retries += 1
            self._progress.update(self._task, retries=self.retries)

    def finish(self) -> None:
        self._progress.refresh()


def make_progress(label: str) -> LineProgress | RichProgress:
    return RichProgress(label) if sys.stderr.isatty() else LineProgress(label)
