"""What the receiver needs from storage: one awaitable write per validated request."""

from __future__ import annotations

from typing import Protocol


class TelemetryWriter(Protocol):
    async def write(self, signal: str, payload: bytes, rows: int) -> None:
        """Return once ``payload`` (a serialized OTLP export request of ``signal``) is committed.

        Raises ``Overloaded``/``StoreUnavailable`` (retryable) or ``RejectedPayload`` (permanent).
        """
        ...

    def has_capacity(self, nbytes: int) -> bool:
        """Whether ``nbytes`` more would currently be admitted (a cheap pre-check before decoding)."""
        ...
