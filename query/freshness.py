"""Honest freshness: does an answer see everything ingest acknowledged before the request?

Ingest acknowledges data once it is durable in its spool; reads see it only after the flattener has
stored it. Before each ``/api/*`` read, :class:`Freshness` waits (at most ``timeout_s``) until the
backlog acknowledged before the request is stored, then reports a :class:`~query.models.ReadMeta`
(body ``meta``) and the ``Vigil-Data-Complete: true|false`` header.

An answer is complete when the wait succeeded, or when no signal the endpoint reads has a backlog.
A process without :class:`~contracts.freshness.IngestProgress` (``role=query``, or an API built
without one) cannot see any ingest spool: it answers ``false`` with a null backlog, since data other
processes have acknowledged may not be stored yet.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from contracts.freshness import Backlog, IngestProgress
from contracts.signals import Signal
from query.models import UNKNOWN, ReadMeta

HEADER = "Vigil-Data-Complete"
log = logging.getLogger(__name__)


class Freshness:
    """Waits for and reports the visibility of acknowledged telemetry; one per API."""

    def __init__(self, progress: IngestProgress | None, timeout_s: float = 0.0,
                 before_read: Callable[[], Awaitable[None]] | None = None) -> None:
        """``before_read`` is the older hook (awaited when there is no ``progress``; it tells nothing)."""
        self.progress = progress
        self.timeout_s = timeout_s
        self.before_read = before_read

    async def settle(self, signals: Iterable[Signal], wait: bool = True) -> ReadMeta:
        """Wait (when ``wait`` and a timeout is set) and say what of ``signals`` is still not visible."""
        if self.progress is None:
            if wait and self.before_read is not None:
                await self.before_read()
            return UNKNOWN
        if wait and self.timeout_s > 0 and await self.progress.wait_visible(self.timeout_s):
            return ReadMeta(data_complete=True, ingest_backlog_records=0, ingest_lag_seconds=0.0)
        pending = self.progress.backlog()
        total = Backlog.total([pending[s] for s in signals if s in pending])
        if total.records:
            log.debug("read served with %d acknowledged records not yet stored", total.records)
        return ReadMeta(data_complete=total.records == 0, ingest_backlog_records=total.records,
                        ingest_lag_seconds=round(total.lag_seconds, 3))


def header_value(meta: ReadMeta) -> str:
    """``true`` or ``false`` for :data:`HEADER`."""
    return "true" if meta.data_complete else "false"
