"""The three OTLP signals, spelled once."""

from __future__ import annotations

from enum import StrEnum


class Signal(StrEnum):
    """An OTLP signal; its value is also the OTLP/HTTP path suffix (``/v1/<value>``) and the spool folder."""

    TRACES = "traces"
    METRICS = "metrics"
    LOGS = "logs"


ALL_SIGNALS: tuple[Signal, ...] = (Signal.TRACES, Signal.LOGS, Signal.METRICS)
