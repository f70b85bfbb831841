"""Spooling writer: acknowledge a request once it is on local disk; flatten into the store in big chunks.

Contract (the ``TelemetryWriter`` and ``IngestProgress`` protocols):

* ``await write(signal, payload, rows)`` returns once ``payload`` (a validated, canonically encoded
  OTLP export request) is appended to the signal's spool segment and, with ``fsync`` on, synced —
  every request waiting at that moment shares the append and the ``fsync`` (group commit). It raises
  :class:`Overloaded` (too many bytes waiting for the disk, or the spool backlog is full while the
  store keeps up; retry later) or :class:`StoreUnavailable` (the spool cannot be written, the writer is
  closing, or the backlog is full because the store keeps failing; retry later).
* One flattener thread per signal turns sealed segments into chunks of at most ``flatten_max_rows``
  records / ``flatten_max_bytes`` bytes, each committed through a :class:`ChunkSink` (for ClickHouse:
  ``INSERT … FORMAT Protobuf``, the views do the flattening). A segment is sealed when the flattener is
  free: after ``flatten_linger_ms`` when idle, at once when it comes back from a flush — so under load
  each insert carries everything that arrived during the previous one and the per-INSERT fixed cost is
  spread over tens of thousands of records.
* Chunks are a deterministic function of a sealed segment and carry an insert-deduplication token
  naming it, so re-flattening a segment after a crash stores nothing twice. A segment file is
  deleted only after all its chunks are committed. Store failures are retried with back-off forever
  (the data stays on disk); a chunk the store refuses as *data* is retried one request at a time and a
  request it still refuses is moved to ``<spool>/dead/<signal>/`` (kept, counted, logged).
* ``await wait_visible(timeout)`` returns once everything acknowledged before the call is stored
  (read-your-writes for the query API; waiting callers make the flatteners seal at once);
  ``backlog()`` says, per signal, how many acknowledged records are not stored yet and how old the
  oldest is; ``close(timeout)`` appends what is queued, then flattens the backlog until ``timeout`` —
  whatever is left stays spooled for the next start.

Modules: :mod:`~storage.spool.appender` (admission, group commit), :mod:`~storage.spool.flattener`
(sealing, chunking, retries, dead letters), :mod:`~storage.spool.sink` (the store as the spool sees
it), :mod:`~storage.spool.state` (what their threads share, backlog accounting),
:mod:`~storage.spool.segments` (the files).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from contracts.freshness import Backlog
from contracts.ingest import FlushObserver, InMemoryFlushObserver
from contracts.signals import ALL_SIGNALS, Signal
from storage.spool.appender import Appender
from storage.spool.flattener import Flattener
from storage.spool.sink import ChunkSink
from storage.spool.state import SpoolState, WriterStats

__all__ = ["INSERT_GRACE_S", "MIB", "ChunkSink", "SpoolingWriter", "WriterStats"]

log = logging.getLogger(__name__)

MIB = 1024 * 1024
INSERT_GRACE_S = 20.0
"""At shutdown, how long (seconds) past the deadline an INSERT under way is waited for."""


class SpoolingWriter:
    """The ingest spool: a ``TelemetryWriter`` and an ``IngestProgress`` (see the module docstring).

    Thread-safety: ``write``, ``has_capacity``, ``wait_visible`` and ``backlog`` may be called from any
    thread or event loop; ``start`` and ``close`` once each, from one thread. ``stats`` is updated by
    the writer's threads and read without locking (racy, fine for counters).

    Args:
        spool_dir: The spool directory (``<signal>/*.seg``, ``dead/<signal>/``); segments an earlier run
            left there are stored after :meth:`start`.
        make_sink: Makes a :class:`ChunkSink`; called once on each flattener thread (again after an
            unexpected error there).
        flatten_max_rows: Most records per chunk.
        flatten_max_bytes: Most payload bytes per chunk.
        flatten_linger_ms: How long (milliseconds) an idle flattener lets the open segment fill.
        fsync: Whether appends are fsynced before requests are acknowledged.
        max_inflight_bytes: Most bytes accepted and not yet on disk (more: ``Overloaded``).
        spool_max_bytes: Most bytes on disk and not yet stored, counting those in flight.
        observer: Told about every chunk committed or failed (default: a discarding one).
    """

    def __init__(
        self,
        spool_dir: Path,
        make_sink: Callable[[], ChunkSink],
        *,
        flatten_max_rows: int,
        flatten_max_bytes: int,
        flatten_linger_ms: int,
        fsync: bool,
        max_inflight_bytes: int,
        spool_max_bytes: int,
        observer: FlushObserver | None = None,
    ) -> None:
        """Open the spool (recovering and counting an earlier run's segments); no thread starts yet.

        The settings have no defaults here: they are defined once, in ``vigil.config``.
        """
        self.dir = spool_dir
        self._state = SpoolState(spool_dir, fsync)
        self.stats: WriterStats = self._state.stats
        self._appender = Appender(self._state, max_inflight_bytes, spool_max_bytes)
        flush_observer: FlushObserver = observer or InMemoryFlushObserver()
        self._flatteners = [
            Flattener(self._state, name, make_sink, max_rows=flatten_max_rows, max_bytes=flatten_max_bytes,
                      linger_s=flatten_linger_ms / 1000, observer=flush_observer, dead_dir=spool_dir / "dead")
            for name in ALL_SIGNALS
        ]
        self._threads: list[threading.Thread] = []
        if self.stats.backlog_bytes_now:
            log.info("ingest spool: %d bytes from the previous run will be stored", self.stats.backlog_bytes_now)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the appender thread and one flattener thread per signal (daemon threads)."""
        targets: list[tuple[str, Callable[[], None]]] = [("vigil-spool", self._appender.run)]
        targets += [(f"vigil-flatten-{f.signal}", f.run) for f in self._flatteners]
        for thread_name, target in targets:
            t = threading.Thread(target=target, name=thread_name, daemon=True)
            t.start()
            self._threads.append(t)

    def close(self, timeout: float = 10.0) -> None:
        """Spool what is queued, store the backlog for up to ``timeout`` seconds, stop the threads.

        New writes are refused from now on. An INSERT still under way at the deadline is waited for, up
        to ``INSERT_GRACE_S`` more (exiting inside chDB crashes the engine); what is not stored stays
        spooled for the next start. Blocks: call it off the event loop.
        """
        s = self._state
        with s.cond:
            s.closing = True
            s.deadline = time.monotonic() + timeout
            s.cond.notify_all()
        for t in self._threads:
            t.join(max(0.0, s.deadline - time.monotonic()) + INSERT_GRACE_S)
            if t.is_alive():
                log.error("%s still busy %.0f s after the shutdown deadline", t.name, INSERT_GRACE_S)
        if all(not t.is_alive() for t in self._threads):
            for sig in s.signals.values():
                sig.log.close()

    # ------------------------------------------------------------------ TelemetryWriter
    def has_capacity(self, nbytes: int) -> bool:
        """Whether ``nbytes`` more would be admitted now (racy but safe: ``write`` re-checks under the lock)."""
        return self._appender.has_capacity(nbytes)

    async def write(self, signal: Signal, payload: bytes, rows: int) -> None:
        """Return once ``payload`` (``rows`` records of ``signal``) is durable in the spool.

        Raises:
            Overloaded: Too many bytes wait for the disk, or the spool is full while the store keeps up.
            StoreUnavailable: Closing, the spool is full because the store keeps failing, or the disk
                refused the append. Nothing is kept when this raises.
        """
        await self._appender.write(signal, payload, rows)

    # ------------------------------------------------------------------ IngestProgress
    async def wait_visible(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until everything acknowledged before the call is stored.

        While callers wait, open segments are sealed without lingering.

        Returns:
            True once it is stored (or refused as data), False if ``timeout`` ran out first.
        """
        s = self._state
        with s.cond:
            marks = {name: sig.accepted for name, sig in s.signals.items()}
            if s.visible(marks):
                return True
        return await asyncio.to_thread(self._wait_visible, marks, timeout)

    def _wait_visible(self, marks: dict[Signal, int], timeout: float) -> bool:
        """Block until every signal's ``done`` reaches its mark, or ``timeout`` seconds pass."""
        s = self._state
        deadline = time.monotonic() + timeout
        with s.cond:
            s.urgent += 1
            s.cond.notify_all()
            try:
                while not s.visible(marks):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    s.cond.wait(left)
                return True
            finally:
                s.urgent -= 1

    def backlog(self) -> dict[str, Backlog]:
        """Per signal name, the acknowledged records not yet stored and the oldest one's age, now.

        ``records`` counts OTLP records (rows) of requests acknowledged and neither stored nor
        dead-lettered yet; ``lag_seconds`` is the ``time.monotonic()`` age of the oldest such request's
        acknowledgement (0 when there is none). For segments recovered at start the records are counted
        from their headers and the acknowledgement is taken to be the file's last modification (a lower
        bound). Requests accepted but not yet on disk are not acknowledged, so not counted.
        """
        return self._state.backlog()
