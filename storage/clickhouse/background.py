"""A daemon thread that runs one task on its own store handle again and again, until stopped.

Subclasses implement :meth:`BackgroundTask.tick` and :meth:`BackgroundTask.pause`. A failing tick
(store down, disk full) is logged, kept in ``last_error``, and the next one tries again. The handle is kept by the
task, never closed or dropped with the thread: closing an embedded chDB handle (also by garbage
collection) closes the engine this process shares.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable

from clickhouse_connect.driver.client import Client


class BackgroundTask(ABC):
    """The thread; not started until :meth:`start`."""

    def __init__(self, connect: Callable[[], Client], name: str, log: logging.Logger,
                 first_at_once: bool = False) -> None:
        """A task named ``name`` opening its handle with ``connect``.

        Its first tick waits one :meth:`pause` unless ``first_at_once``.
        """
        self._connect = connect
        self._log = log
        self._first_at_once = first_at_once
        self._client: Client | None = None
        self.last_error = ""  # the first 300 characters of the last tick's exception; "" after a good tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @abstractmethod
    def tick(self, client: Client) -> None:
        """One round of the task's work."""

    @abstractmethod
    def pause(self) -> float:
        """Seconds to wait before the next tick."""

    def stopping(self) -> bool:
        """Whether :meth:`stop` was called (long ticks check it between steps)."""
        return self._stop.is_set()

    def start(self) -> None:
        """Start the thread (once)."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop and wait up to ``timeout`` seconds for the current tick to end."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        if not self._first_at_once and self._stop.wait(self.pause()):
            return
        while True:
            try:
                self._client = self._client or self._connect()
                self.tick(self._client)
                self.last_error = ""
            except Exception as exc:  # noqa: BLE001 - the next tick tries again
                self.last_error = str(exc)[:300]
                self._log.warning("%s failed: %s", self._thread.name, self.last_error)
            if self._stop.wait(self.pause()):
                return
