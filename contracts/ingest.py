"""The ingest contracts: what the receiver needs from storage, and how both report what they do.

* :class:`TelemetryWriter` — one awaitable write per validated request (the receiver's only dependency on
  storage); :class:`InMemoryWriter` records writes for tests.
* :class:`IngestObserver` — per-request outcomes, reported by the receiver (self-metrics implement it).
* :class:`FlushObserver` — per-INSERT outcomes, reported by the spool's flatteners.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from contracts.signals import Signal


class TelemetryWriter(Protocol):
    """Accepts validated OTLP requests. Implementations are safe to call from one asyncio loop."""

    async def write(self, signal: Signal, payload: bytes, rows: int) -> None:
        """Return once ``payload`` (a serialized OTLP export request of ``signal``) is durable.

        Durable means it will be stored even if the process is killed now (the spool: fsynced on local
        disk); it may not be visible to reads yet. Raises ``Overloaded``/``StoreUnavailable``
        (retryable) or ``RejectedPayload`` (permanent); nothing is kept when it raises.
        """
        ...

    def has_capacity(self, nbytes: int) -> bool:
        """Whether ``nbytes`` more would currently be admitted (a cheap, racy pre-check before decoding)."""
        ...


class InMemoryWriter:
    """A :class:`TelemetryWriter` that records every write, or raises ``fail`` when it is set."""

    def __init__(self, fail: BaseException | None = None, capacity: bool = True) -> None:
        """``capacity`` is what :meth:`has_capacity` answers."""
        self.fail = fail
        self.capacity = capacity
        self.writes: list[tuple[str, bytes, int]] = []

    def has_capacity(self, nbytes: int) -> bool:
        """Answer the configured ``capacity``."""
        return self.capacity

    async def write(self, signal: Signal, payload: bytes, rows: int) -> None:
        """Record ``(signal, payload, rows)`` or raise ``fail``."""
        if self.fail is not None:
            raise self.fail
        self.writes.append((str(signal), payload, rows))


class IngestObserver(Protocol):
    """Told about every answered ingest request. Called on the event loop; must not block."""

    def request(self, signal: Signal, nbytes: int, accepted: int, rejected: dict[str, int]) -> None:
        """A request was answered with success; ``rejected`` counts records refused by reason."""
        ...

    def refused_request(self, signal: Signal, reason: str) -> None:
        """A request was refused as a whole (``reason`` as in ``receiver.errors.Failure.reason``)."""
        ...


@dataclass
class InMemoryIngestObserver:
    """An :class:`IngestObserver` that keeps what it was told (also the null observer)."""

    requests: list[tuple[str, int, int, dict[str, int]]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    def request(self, signal: Signal, nbytes: int, accepted: int, rejected: dict[str, int]) -> None:
        """Record an answered request."""
        self.requests.append((str(signal), nbytes, accepted, dict(rejected)))
        del self.requests[:-1000]

    def refused_request(self, signal: Signal, reason: str) -> None:
        """Record a refused request."""
        self.refused.append((str(signal), reason))
        del self.refused[:-1000]


class FlushObserver(Protocol):
    """Told about every INSERT the flatteners make. Called from flattener threads; must be thread-safe."""

    def flushed(self, signal: Signal, requests: int, rows: int, seconds: float) -> None:
        """A chunk of ``requests`` holding ``rows`` records was committed in ``seconds``."""
        ...

    def failed(self, signal: Signal, requests: int, kind: str) -> None:
        """A chunk failed; ``kind`` is ``unavailable`` (retried) or ``rejected`` (data error)."""
        ...


@dataclass
class InMemoryFlushObserver:
    """A :class:`FlushObserver` that keeps what it was told (also the null observer)."""

    flushes: list[tuple[str, int, int]] = field(default_factory=list)
    failures: list[tuple[str, int, str]] = field(default_factory=list)

    def flushed(self, signal: Signal, requests: int, rows: int, seconds: float) -> None:
        """Record a committed chunk."""
        self.flushes.append((str(signal), requests, rows))
        del self.flushes[:-1000]

    def failed(self, signal: Signal, requests: int, kind: str) -> None:
        """Record a failed chunk."""
        self.failures.append((str(signal), requests, kind))
        del self.failures[:-1000]
