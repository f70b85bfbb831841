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
from collections.abc import Callable

from clickhouse_connect.driver.client import Client

from storage.clickhouse.background import BackgroundTask
from storage.clickhouse.part_guard import PartGuard

log = logging.getLogger("vigil.storage.part_guard")


class PartSweeper(BackgroundTask):
    """The sweeper thread; not started until :meth:`start`."""

    def __init__(self, guard: PartGuard, connect: Callable[[], Client], interval_s: float = 0.25) -> None:
        """A sweeper of ``guard`` opening its handle with ``connect``."""
        super().__init__(connect, "vigil-part-sweeper", log)
        self.guard = guard
        self._interval = interval_s

    def tick(self, client: Client) -> None:
        """One :meth:`PartGuard.sweep`."""
        self.guard.sweep(client)

    def pause(self) -> float:
        """The sweep interval."""
        return self._interval
