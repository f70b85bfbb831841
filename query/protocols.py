"""What query services need from storage."""

from __future__ import annotations

from typing import Any, Protocol


class TelemetryReader(Protocol):
    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a parameterised ClickHouse SELECT; return rows as dicts (blocking)."""
        ...
