"""The ``passerelle`` command: a thin layer that parses, calls the library, renders.

Every command module imports its heavy dependencies inside the command, so
``passerelle --help`` stays instant.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


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
