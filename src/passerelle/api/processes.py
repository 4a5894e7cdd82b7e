"""The processes of ``passerelle serve --workers N``: a listening socket each, so the
kernel spreads the connections over them.

uvicorn's own supervisor binds one socket that every worker accepts from, and asyncio
accepts every connection waiting on each wakeup: a burst of connections (a proxy's
keep-alive pool, the Monday-morning portal, a load test's 32 clients) can all land on
the first process awake while the others idle. Measured with wrk, two processes on
PostgreSQL: all 32 connections on one process in one run of three (176 requests/s),
17 and 15 in another (263 requests/s). Here each worker has a socket of its own, all
bound to the one address with ``SO_REUSEPORT``, and Linux hashes each new connection to
one of them. uvicorn's supervisor is otherwise kept as it is (health checks, restarts,
signals): only which socket a process is given changes, and a replacement is given the
socket of the process it replaces. The parent keeps every socket open, so connections
that wait on a dead worker's socket are answered once its replacement starts.

Where the platform has no ``SO_REUSEPORT``, the processes share one socket as before.
"""

from __future__ import annotations

import socket

from uvicorn.supervisors.multiprocess import Multiprocess, Process, logger

from passerelle.errors import UsageError

__all__ = ["SocketPerProcess", "listening_sockets"]


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets bound to ``host:port`` with ``SO_REUSEPORT`` (one socket where the
    platform lacks it), not yet listening: each worker listens on its own."""
    reuse_port = getattr(socket, "SO_REUSEPORT", None)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count if reuse_port is not None else 1):
            sock = socket.socket(family=family)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port is not None:
                sock.setsockopt(socket.SOL_SOCKET, reuse_port, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]  # port 0: the others join the port the first got
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}): stop what uses that "
            "port or choose another with --port"
        ) from None
    return sockets


class SocketPerProcess(Multiprocess):
    """uvicorn's supervisor, with worker ``i`` given ``sockets[i]`` (all workers given
    ``sockets[0]`` when there is only one)."""

    def _process(self, slot: int) -> Process:
        own = self.sockets[slot] if len(self.sockets) > 1 else self.sockets[0]
        return Process(self.config, [own])

    def init_processes(self) -> None:
        for slot in range(self.processes_num):
            process = self._process(slot)
            process.start()
            self.processes.append(process)

    def restart_all(self) -> None:
        """Each worker replaced in turn, its replacement serving its socket before it stops
        (uvicorn's rolling restart, on SIGHUP)."""
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._process(slot)
            new.start()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    logger.error(
                        f"New child process [{new.pid}] was not ready in time; keeping worker "
                        f"[{old.pid}] and aborting the restart."
                    )
                return
            old.terminate()
            old.join()
            self.processes[slot] = new

    def keep_subprocess_alive(self) -> None:
        """A dead or hung worker replaced on its own socket (uvicorn's rule: a worker that
        failed before serving stops the whole server, as every restart would fail too)."""
        from uvicorn.config import STARTUP_FAILURE

        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                logger.error(f"Child process [{process.pid}] failed to start, stopping.")
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info(f"Child process [{process.pid}] died")
            replacement = self._process(slot)
            replacement.start()
            self.processes[slot] = replacement
