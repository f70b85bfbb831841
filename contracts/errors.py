"""Errors a :class:`~contracts.ingest.TelemetryWriter` raises; the receiver maps them to OTLP answers."""

from __future__ import annotations


class WriteError(Exception):
    """Base of the writer's errors."""


class Overloaded(WriteError):
    """Too much data in flight; nothing was queued. Retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: float = 1.0) -> None:
        """Build the error; ``retry_after`` is the hint sent to the client, in seconds."""
        super().__init__("ingest queue is full")
        self.retry_after = retry_after


class StoreUnavailable(WriteError):
    """The store (or the spool in front of it) could not take the data right now; retryable."""


class RejectedPayload(WriteError):
    """The store refused this payload itself (not retryable)."""
