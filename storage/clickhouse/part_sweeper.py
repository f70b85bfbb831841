"""Background thread that runs :meth:`PartGuard.sweep` every ``interval_s`` seconds on its own handle.

A tick costs nothing but a free-space probe (every ``probe_every_s``) while no disk is nearly full. The
probes also stop and start merges and keep the guard's hold decision fresh (see
:meth:`PartGuard.watching`); the short interval bounds how long merges run on a disk that just got tight.

``start()`` / ``stop(timeout)``; a failing sweep (store down, disk full) is logged and retried on the
next tick. ``stop`` waits for the current sweep to end. The handle is kept by the sweeper, never closed
or dropped with the thread: closing an embedded chDB handle (also by garbage collection) closes the
engine this process shares.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from clickhouse_connect.driver.client import Client

from storage.clickhouse.part_guard import PartGuard

log = logging.getLogger("vigil.storage.part_guard")


class PartSweeper:
    """The sweeper thread; not started until :meth:`start`."""

    def __init__(self, guard: PartGuard, connect: Callable[[], Client], interval_s: float = 0.25) -> None:
        """A sweeper of ``guard`` opening its handle with ``connect``."""
        self.guard = guard
        self._connect = connect
        self._interval = interval_s
        self._client: Client | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-part-sweeper", daemon=True)

    def start(self) -> None:
        """Start the thread (once)."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop and wait up to ``timeout`` seconds for the current sweep to end."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._client = self._client or self._connect()
                self.guard.sweep(self._client)
            except Exception as exc:  # noqa: BLE001 - the next tick tries again
                log.warning("part sweep failed: %s", str(exc)[:300])
