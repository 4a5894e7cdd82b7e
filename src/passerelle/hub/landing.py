"""The hub's landing areas (``ingest_sources`` in hub.toml): what a steward may ingest.

A source is allowed when it lies under one of the listed URL prefixes. For local
folders, what counts is where a path *really* leads: the allowed roots and the
requested source are resolved (symbolic links and ``..`` followed) before the
pure comparison, so a link planted in a landing area cannot point at the hub's
keys or another folder; a file with several names (a hard link) is refused, since
its real path says nothing about where it came from. The source is then
*pinned*: every file is opened component by component with ``O_NOFOLLOW`` (a
link swapped in after the check is refused), and the ingest reads those open
files through a private folder of ``/proc/self/fd`` links, so nothing renamed or
replaced later can change what is read. Object stores (``s3://``, ``az://``)
have no links: their URLs are compared as they are, after ``..`` is normalised.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

from passerelle.errors import LimitExceededError, NotFoundError, PermissionDeniedError

__all__ = ["PinnedSource", "landing_allows", "pin_source", "real_url", "source_allowed"]

_PROC_FD = "/proc/self/fd"


def source_allowed(prefixes: tuple[str, ...], url: str) -> bool:
    """Whether ``url`` lies under one of ``prefixes`` (none: anything); pure.

    Paths are normalised first, so ``..`` cannot climb out of an allowed folder;
    :func:`landing_allows` resolves symbolic links before calling this.
    """
    if not prefixes:
        return True

    def norm(u: str) -> str:
        scheme, sep, rest = u.partition("://")
        if not sep:
            scheme, rest = "file", u
        lead = "/" if rest.startswith("/") else ""
        path = posixpath.normpath(rest).lstrip("/") if rest.strip("/") else ""
        return f"{scheme}://{lead}{'' if path == '.' else path}"

    target = norm(url)
    for prefix in prefixes:
        base = norm(prefix)
        if target == base or target.startswith(base.rstrip("/") + "/"):
            return True
    return False


def _local_path(url: str) -> str | None:
    """The local path a ``file://`` URL or plain path names (None for object stores)."""
    if url.startswith("file://"):
        return url[len("file://") :] or "/"
    if "://" not in url:
        return url
    return None


def real_url(url: str, *, strict: bool) -> str:
    """``url`` with a local path replaced by its real path (links and ``..`` resolved).

    ``strict``: the path must exist (a source), else :class:`NotFoundError`.
    """
    path = _local_path(url)
    if path is None:
        return url
    try:
        real = os.path.realpath(path, strict=strict)
    except OSError:
        raise NotFoundError(f"No source at {url}; check the path.") from None
    return "file://" + real


def landing_allows(prefixes: tuple[str, ...], url: str) -> bool:
    """Whether ``url`` really lies in a landing area: both sides resolved, then compared."""
    if not prefixes:
        return True
    roots = tuple(real_url(p, strict=False) for p in prefixes)
    return source_allowed(roots, real_url(url, strict=True))


@dataclass
class PinnedSource:
    """What an ingest reads: ``url`` (private links to open files) and ``close`` after."""

    url: str
    _close: Callable[[], None] = field(default=lambda: None)

    def close(self) -> None:
        self._close()


def _refused(url: str) -> PermissionDeniedError:
    return PermissionDeniedError(
        f"{url} holds or passes through a symbolic link, or changed while it was checked; "
        "ingest_sources accepts only real files in the landing area"
    )


def _hard_link(url: str) -> PermissionDeniedError:
    return PermissionDeniedError(
        f"{url} holds a file with more than one name (a hard link, perhaps to a file "
        "outside the landing area); ingest_sources accepts only files with a single name"
    )


def _refuse_hard_link(fd: int, url: str) -> None:
    """A regular file with several names may be a file from anywhere on the same disk
    (another hospital's, the hub's keys): its real path says nothing, so it is refused."""
    info = os.fstat(fd)
    if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
        raise _hard_link(url)


def _open_below(real: str, url: str) -> int:
    """Open ``real`` (a resolved absolute path) one component at a time, never following
    a link: a component swapped for a link since the check is refused."""
    directory = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open("/", directory)
    try:
        parts = [p for p in real.split("/") if p]
        for i, part in enumerate(parts):
            flags = directory if i < len(parts) - 1 else os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                child = os.open(part, flags, dir_fd=fd)
            except OSError:
                raise _refused(url) from None
            os.close(fd)
            fd = child
        _refuse_hard_link(fd, url)
        return fd
    except BaseException:
        os.close(fd)
        raise


MAX_DEPTH = 32
"""Folders nested deeper than this in a source are refused (FHIR exports are flat)."""


def _fd_budget() -> int:
    """How many descriptors one pinned source may hold: half the process's open-file
    limit, so the server keeps descriptors for its other requests."""
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, (soft if soft != resource.RLIM_INFINITY else 65536) // 2)


def _too_many(url: str, budget: int) -> LimitExceededError:
    return LimitExceededError(
        f"{url} holds more files and folders than this server can hold open at once "
        f"({budget}); ingest it in parts, or raise the server's open-file limit (ulimit -n)"
    )


def _open_entry(name: str, flags: int, parent: int, url: str) -> int:
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            raise _too_many(url, _fd_budget()) from None
        raise _refused(url) from None


def _pin_tree(fd: int, into: str, url: str, held: list[int]) -> None:
    """Link every regular file below the open folder ``fd`` into ``into``, each to its
    own open descriptor; a link or special file anywhere inside is refused.

    Walked with an explicit stack (a folder nested thousands deep is refused, not a
    crash), holding at most :func:`_fd_budget` descriptors."""
    budget = _fd_budget()
    stack = [(fd, into, 0)]
    while stack:
        folder, target, depth = stack.pop()
        for entry in os.scandir(folder):
            if len(held) >= budget:
                raise _too_many(url, budget)
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                if depth + 1 > MAX_DEPTH:
                    raise PermissionDeniedError(
                        f"{url} has folders nested more than {MAX_DEPTH} deep; "
                        "ingest_sources accepts exports of a plain shape"
                    )
                sub = _open_entry(entry.name, os.O_RDONLY | os.O_DIRECTORY, folder, url)
                held.append(sub)
                os.mkdir(os.path.join(target, entry.name), 0o700)
                stack.append((sub, os.path.join(target, entry.name), depth + 1))
            elif stat.S_ISREG(mode):
                child = _open_entry(entry.name, os.O_RDONLY, folder, url)
                held.append(child)
                _refuse_hard_link(child, url)
                os.symlink(f"{_PROC_FD}/{child}", os.path.join(target, entry.name))
            else:
                raise _refused(url)


def pin_source(url: str) -> PinnedSource:
    """Pin a local source found allowed, so that what is read is what was checked.

    Object-store URLs are returned as they are. Where ``/proc/self/fd`` is missing
    (not Linux) the real path is read, without the guard against later swaps.
    """
    path = _local_path(url)
    if path is None:
        return PinnedSource(url)
    real = real_url(url, strict=True)[len("file://") :]
    if not os.path.isdir(_PROC_FD):
        info = os.lstat(real)
        if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
            raise _hard_link(url)
        return PinnedSource("file://" + real)
    held = [_open_below(real, url)]
    links = tempfile.mkdtemp(prefix="passerelle-landing-")

    def close() -> None:
        shutil.rmtree(links, ignore_errors=True)
        for fd in held:
            os.close(fd)

    try:
        if stat.S_ISDIR(os.fstat(held[0]).st_mode):
            _pin_tree(held[0], links, url, held)
            return PinnedSource("file://" + links, close)
        name = os.path.basename(real)
        os.symlink(f"{_PROC_FD}/{held[0]}", os.path.join(links, name))
        return PinnedSource(f"file://{links}/{name}", close)
    except BaseException:
        close()
        raise
