"""List a huge container faster: split by top-level prefix, list the prefixes concurrently.

One delimiter listing (``Store.list_dir("")``) finds the top-level prefixes
(``a/``, ``b/``...) and the objects directly at the top.  Every key below a
prefix sorts within one contiguous range of the key order, and a top-level
object sorts entirely before or after each range, so ordering the units (a
prefix or a top-level key) by their string and concatenating them gives the
same stream, in the same key order, as the serial ``Store.list("")``.  Up to
``threads`` prefixes are listed ahead of the one being read, each into a queue
of a few pages: memory stays bounded by ``threads x QUEUE_PAGES x page_size``
entries, whatever the number of objects.

:func:`units` is the pure ordering; :func:`parallel_list` does the I/O and
returns None when splitting gains nothing or cannot give the same entries
(fewer than two prefixes; top-level objects when per-object details such as
Azure tiers are asked for, which a delimiter listing does not carry), so the
caller lists serially.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from passerelle.storage import Store
from passerelle.storage.model import ObjectInfo

__all__ = ["MAX_DEPTH", "QUEUE_PAGES", "parallel_list", "units"]

QUEUE_PAGES = 4
"""Pages of one prefix's listing held ahead of the reader."""

MAX_DEPTH = 3
"""How many levels discovery descends while each level holds a single prefix."""

_END = object()


def units(prefixes: Iterable[str], objects: Iterable[ObjectInfo]) -> list[str | ObjectInfo]:
    """Prefixes and top-level objects in the key order of the serial listing."""
    folders = (p if p.endswith("/") else f"{p}/" for p in prefixes)  # keys below sort after "p/"
    items: list[str | ObjectInfo] = [*folders, *objects]
    items.sort(key=lambda item: item if isinstance(item, str) else item.key)
    return items


def parallel_list(
    store: Store, *, threads: int, details: bool = False, page_size: int = 1000
) -> Iterator[ObjectInfo] | None:
    """Every object of ``store`` in key order, prefixes listed at once (None: list serially)."""
    if threads < 2:
        return None
    order = _discover(store, threads, details)
    prefixes = sum(isinstance(u, str) for u in order)
    if prefixes < 2 or (details and prefixes < len(order)):
        return None
    return _stream(store, order, threads, details, page_size)


def _discover(store: Store, threads: int, details: bool) -> list[str | ObjectInfo]:
    """The units to list: top-level prefixes, split one level deeper while there is one.

    Each prefix is replaced in place by its own sorted units, which all sort within
    its range, so the list stays in key order.  With ``details``, a level that
    holds objects directly is not split (its objects would lack their details).
    A level is split only while it holds a single prefix: splitting lists the
    prefix's direct children once more, which for a flat prefix of millions of
    keys costs a whole second listing (measured: 2 prefixes of 5,000 flat keys on
    Azurite planned in 4.6 s split, 3.3 s not), while two or more prefixes
    already list concurrently.
    """
    top = store.list_dir("")
    order = units(top.prefixes, top.objects)
    for _depth in range(1, MAX_DEPTH):
        if sum(isinstance(u, str) for u in order) != 1 or threads < 2:
            break
        deeper: list[str | ObjectInfo] = []
        for unit in order:
            if isinstance(unit, str):
                level = store.list_dir(unit)
                deeper.extend(units(level.prefixes, level.objects))
            else:
                deeper.append(unit)
        if details and sum(not isinstance(u, str) for u in deeper) > sum(
            not isinstance(u, str) for u in order
        ):
            break
        order = deeper
    return order


def _stream(
    store: Store, order: list[str | ObjectInfo], threads: int, details: bool, page_size: int
) -> Iterator[ObjectInfo]:
    stop = threading.Event()

    def produce(prefix: str, out: queue.Queue[Any]) -> None:
        page: list[ObjectInfo] = []
        try:
            for info in store.list(prefix, page_size=page_size, details=details):
                page.append(info)
                if len(page) >= page_size:
                    if not _put(out, page, stop):
                        return
                    page = []
            if page and not _put(out, page, stop):
                return
            _put(out, _END, stop)
        except BaseException as exc:  # handed to the reader, raised there
            _put(out, exc, stop)

    prefixes = [u for u in order if isinstance(u, str)]
    queues: dict[str, queue.Queue[Any]] = {}
    pool = ThreadPoolExecutor(threads, thread_name_prefix="passerelle-list")
    submitted = 0

    def keep_ahead(reading: int) -> None:
        nonlocal submitted
        while submitted < len(prefixes) and submitted < reading + threads:
            prefix = prefixes[submitted]
            queues[prefix] = queue.Queue(QUEUE_PAGES)
            pool.submit(produce, prefix, queues[prefix])
            submitted += 1

    try:
        reading = 0
        for unit in order:
            if not isinstance(unit, str):
                yield unit
                continue
            keep_ahead(reading)
            source = queues.pop(unit)
            while True:
                item = source.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield from item
            reading += 1
            keep_ahead(reading)
    finally:
        stop.set()
        for pending in queues.values():  # unblock producers waiting on a full queue
            while not pending.empty():
                pending.get_nowait()
        pool.shutdown(wait=True, cancel_futures=True)


def _put(out: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put unless the reader stopped; False when it did."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
