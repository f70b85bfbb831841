"""Errors a TelemetryWriter raises; the receiver maps them to OTLP answers."""

from __future__ import annotations


class WriteError(Exception):
    """Base of the writer's errors."""


class Overloaded(WriteError):
    """Too much data in flight; nothing was queued. Retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: float = 1.0) -> None:
        super().__init__("ingest queue is full")
        self.retry_after = retry_after


class StoreUnavailable(WriteError):
    """The columnar store could not be reached or failed transiently; retryable."""


class RejectedPayload(WriteError):
    """The store refused this payload itself (not retryable)."""
