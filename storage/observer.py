"""Hooks through which storage reports what it does (implemented by the composition root)."""

from __future__ import annotations

from typing import Protocol


class FlushObserver(Protocol):
    def flushed(self, signal: str, requests: int, rows: int, seconds: float) -> None:
        """A batch was committed."""
        ...

    def failed(self, signal: str, requests: int, kind: str) -> None:
        """A batch failed; ``kind`` is ``unavailable`` or ``rejected``."""
        ...


class NullFlushObserver:
    def flushed(self, signal: str, requests: int, rows: int, seconds: float) -> None:
        pass

    def failed(self, signal: str, requests: int, kind: str) -> None:
        pass
