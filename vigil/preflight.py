"""Checks made before any store is opened, so a conflict is one clear line, not a traceback.

* :func:`busy_ports` — which of the listeners' ``(host, port)`` pairs cannot be bound now.
* :class:`InstanceLock` — an exclusive ``flock`` on ``<dir>/vigil.lock`` for each directory this
  process writes (the embedded chDB data, the spool), held for the process's lifetime: embedded chDB
  takes no lock of its own, and two processes on one data directory would corrupt it. The lock is
  released by the kernel when the process dies (also on SIGKILL), so a stale file never blocks a start.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from pathlib import Path


class StartupConflict(RuntimeError):
    """Another process holds a port or a directory this one needs; the message says which and the fix."""


def busy_ports(host: str, ports: list[tuple[str, int]]) -> list[str]:
    """``"--flag PORT"`` descriptions of the ports that are in use (port 0 = pick any: never busy)."""
    busy = []
    for flag, port in ports:
        if port == 0:
            continue
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    busy.append(f"{host}:{port} ({flag}) is in use")
                else:
                    busy.append(f"{host}:{port} ({flag}) cannot be bound: {exc.strerror}")
    return busy


class InstanceLock:
    """Hold ``vigil.lock`` in each directory; :meth:`acquire` raises :class:`StartupConflict` if held."""

    def __init__(self, directories: list[Path]) -> None:
        """Remember the directories (created on acquire)."""
        self._dirs = list(dict.fromkeys(d.resolve() for d in directories))
        self._fds: list[int] = []

    def acquire(self) -> None:
        """Lock every directory or none."""
        for folder in self._dirs:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "vigil.lock"
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                self.release()
                raise StartupConflict(f"{folder} is in use by another Vigil process (pid {holder}); stop it, or "
                                      "give this one its own --data-dir") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            self._fds.append(fd)

    def release(self) -> None:
        """Unlock (idempotent)."""
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
