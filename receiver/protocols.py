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


class IngestObserver(Protocol):
    def request(self, signal: str, nbytes: int, accepted: int, rejected: dict[str, int]) -> None:
        """A request was answered with success; ``rejected`` counts records refused by reason."""
        ...

    def refused_request(self, signal: str, reason: str) -> None:
        """A request was refused as a whole (``reason`` as in ``receiver.errors.Failure.reason``)."""
        ...


class NullIngestObserver:
    def request(self, signal: str, nbytes: int, accepted: int, rejected: dict[str, int]) -> None:
        pass

    def refused_request(self, signal: str, reason: str) -> None:
        pass
