"""The ``error_tracker`` module: scan new error occurrences into issues every interval, announce changes.

Each scan (:func:`query.apm.errors_scan.scan`, in a worker thread: the stores block) records the
exception span events and ERROR logs since the watermark kept in the metadata store's settings, then
publishes one ``performance`` event per new or regressed issue (``{"kind": "new_issue" |
"regressed_issue", "fingerprint", "type", "message", "service", …}``). A failed scan is logged once per
failure streak, reported by :meth:`ErrorTracker.health` and retried at the next interval; it never stops
the tracker. Switched off with ``error_tracker: false``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from contracts.events import EventBus, Topic
from contracts.metadata import MetadataStore
from contracts.reader import TelemetryReader
from query.apm.errors_scan import ScanResult, change_event, scan

log = logging.getLogger("vigil.errors")


class ErrorTracker:
    """Runs :func:`query.apm.errors_scan.scan` every ``interval_s`` and publishes its changes on ``bus``."""

    name = "error_tracker"

    def __init__(self, bus: EventBus, reader: TelemetryReader, metadata: MetadataStore, interval_s: float, *,
                 overlap_s: float = 60.0, clock: Callable[[], int] = time.time_ns) -> None:
        """Configure; nothing runs before :meth:`start`."""
        self.bus, self.reader, self.metadata = bus, reader, metadata
        self.interval_s, self.overlap_s, self.clock = interval_s, overlap_s, clock
        self.scans = self.failures = self.published = 0
        self.last_error = ""
        self.last: ScanResult | None = None
        self._task: asyncio.Task[None] | None = None

    def scan_once(self) -> ScanResult:
        """One scan and its announcements (blocking); raises what the scan raises."""
        result = scan(self.reader, self.metadata.issues, self.metadata.settings, self.clock(),
                      overlap_s=self.overlap_s)
        for change in result.changes:
            self.bus.publish(Topic.PERFORMANCE, change_event(change))
            self.published += 1
        self.scans += 1
        self.last, self.last_error = result, ""
        return result

    async def start(self) -> None:
        """Start the scanning loop (the first scan runs at once)."""
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                await asyncio.to_thread(self.scan_once)
                failing = False
            except Exception as exc:  # noqa: BLE001 - the tracker outlives a failing scan
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                if not failing:
                    log.warning("error scan failed (retrying every %.0fs): %s", self.interval_s, self.last_error)
                failing = True
            await asyncio.sleep(self.interval_s)

    async def stop(self, timeout: float) -> None:
        """Stop the loop (a scan under way finishes in its thread; its result is dropped)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def health(self) -> dict[str, Any]:
        """``error`` while the latest scan failed; scans, failures, events published, the watermark."""
        return {"status": "error" if self.last_error else "ok", "interval_s": self.interval_s, "scans": self.scans,
                "failures": self.failures, "published": self.published, "last_error": self.last_error,
                "watermark_ns": self.last.watermark_ns if self.last else None}
