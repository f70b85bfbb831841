"""Freshness: whether everything acknowledged before a read is visible to it.

Ingest acknowledges a request once it is durable in the spool; it becomes visible to reads only when the
flattener has stored it. :class:`IngestProgress` is what the query side asks about that gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Backlog:
    """Acknowledged-but-not-yet-visible data of one signal (or of all: :meth:`total`)."""

    records: int = 0
    """Records acknowledged and not yet stored."""
    lag_seconds: float = 0.0
    """Age of the oldest such record's acknowledgement (0 when there is none)."""

    @staticmethod
    def total(parts: list[Backlog]) -> Backlog:
        """The sum of records and the largest lag."""
        return Backlog(sum(b.records for b in parts), max((b.lag_seconds for b in parts), default=0.0))


class IngestProgress(Protocol):
    """Implemented by the spool writer. Thread-safe."""

    async def wait_visible(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until everything acknowledged before the call is stored; True if so."""
        ...

    def backlog(self) -> dict[str, Backlog]:
        """Per signal name, what is acknowledged and not yet visible, now."""
        ...


class InMemoryProgress:
    """An :class:`IngestProgress` whose backlog tests set by hand (``visible`` says what waits return)."""

    def __init__(self) -> None:
        """Start with nothing pending."""
        self.pending: dict[str, Backlog] = {}

    async def wait_visible(self, timeout: float) -> bool:
        """True when no signal has records pending (no waiting: tests change ``pending`` themselves)."""
        return not any(b.records for b in self.pending.values())

    def backlog(self) -> dict[str, Backlog]:
        """A copy of ``pending``."""
        return dict(self.pending)
