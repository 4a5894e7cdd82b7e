"""The ``passerelle`` command: a thin layer that parses, calls the library, renders.

Every command module imports its heavy dependencies inside the command, so
``passerelle --help`` stays instant.
"""

from __future__ import annotations

import sys

__all__ = ["main", "run"]


def _limit_malloc_arenas() -> None:
    """Keep glibc from giving each copy thread its own heap (RSS would grow with threads)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None).mallopt(-8, 2)  # M_ARENA_MAX = 2, in the already-loaded libc
    except (OSError, AttributeError):
        return


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a :class:`PasserelleError` becomes one sentence and an exit code."""
    from passerelle.cli.app import build_app
    from passerelle.errors import PasserelleError

    _limit_malloc_arenas()

    app = build_app()
    try:
        app(args=argv, prog_name="passerelle", standalone_mode=True)
    except PasserelleError as exc:
        from rich.markup import escape

        from passerelle.cli.render import error_console

        error_console().print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)


def run() -> None:
    """The console command: :func:`main`, ended without tearing down native libraries.

    Arrow's dataset scanner can leave a C++ thread that aborts the process (SIGABRT,
    "terminate called without an active exception") while native libraries are torn
    down, after the command has already succeeded.  So the process ends here as Python
    would end it (threads joined, every exit handler run, output flushed) and then
    skips only the native teardown.  Registered first, the handler runs last.
    """
    import atexit

    outcome = {"code": 1}  # an exception escaping main is exit 1, as Python makes it
    atexit.register(_end_process, outcome)
    try:
        main()
        outcome["code"] = 0
    except SystemExit as exc:
        outcome["code"] = _exit_status(exc.code)
        raise


def _exit_status(code: object) -> int:
    """The status Python gives ``sys.exit(code)``: None is 0, an int itself, else 1."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _end_process(outcome: dict[str, int]) -> None:
    import os
    from contextlib import suppress

    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):  # a closed pipe or stream: nothing left to say
            stream.flush()
    os._exit(outcome["code"] & 0xFF)
