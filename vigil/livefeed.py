"""The ``live`` module: publish a ``dashboard-data`` snapshot on the event bus every interval.

Snapshots are built (in a worker thread: the store blocks) only while at least one ``/ws`` client
listens, so an idle Vigil does no work for the feed. A failing snapshot is logged once per failure
streak and retried at the next interval; it never stops the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from contracts.events import InProcessEventBus, Topic

log = logging.getLogger("vigil.live")


class LiveSnapshots:
    """Publishes ``build()`` to ``Topic.DASHBOARD_DATA`` every ``interval_s`` while clients listen."""

    name = "live"

    def __init__(self, bus: InProcessEventBus, build: Callable[[], dict[str, Any]], interval_s: float) -> None:
        """Configure; nothing runs before :meth:`start`."""
        self.bus = bus
        self.build = build
        self.interval_s = interval_s
        self.published = 0
        self.last_error = ""
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the publishing loop."""
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.interval_s)
            if self.bus.subscriber_count() == 0:
                continue
            try:
                snapshot = await asyncio.to_thread(self.build)
            except Exception as exc:  # noqa: BLE001 - the feed outlives a failing read
                self.last_error = f"{type(exc).__name__}: {exc}"
                if not failing:
                    log.warning("live snapshot failed (retrying every %.0fs): %s", self.interval_s, self.last_error)
                failing = True
                continue
            failing = False
            self.bus.publish(Topic.DASHBOARD_DATA, snapshot)
            self.published += 1

    async def stop(self, timeout: float) -> None:
        """Stop the loop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def health(self) -> dict[str, Any]:
        """Snapshots published, listeners, the last error."""
        return {"status": "ok", "interval_s": self.interval_s, "published": self.published,
                "subscribers": self.bus.subscriber_count(), "last_error": self.last_error}
