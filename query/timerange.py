"""Time ranges for queries: ``start``/``end`` as RFC 3339 or unix seconds, else ``range`` back from now.

All results are unix nanoseconds (int). ``range`` (and the metric ``step``) are Prometheus durations
(``15m``, ``1h30m``, ``500ms``, ``7d``; see :mod:`contracts.durations`); the default range is 1h.
Every error names its parameter.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from contracts.durations import DurationError, parse_duration_ms
from query.errors import BadRequest

NS = 1_000_000_000
MS = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TimeRange:
    """A closed interval of unix nanoseconds."""

    start_ns: int
    end_ns: int

    @property
    def params(self) -> dict[str, int]:
        """The SQL parameters ``start_ns``/``end_ns``."""
        return {"start_ns": self.start_ns, "end_ns": self.end_ns}


def parse_duration(text: str, parameter: str) -> int:
    """A positive Prometheus duration in milliseconds (``15m`` → 900000); raises :class:`BadRequest`."""
    try:
        ms = parse_duration_ms(text)
    except DurationError as exc:
        raise BadRequest(str(exc), parameter) from exc
    if ms <= 0:
        raise BadRequest(f"{text[:40]!r} is not a duration > 0; use e.g. 500ms, 90s, 15m, 1h30m, 7d", parameter)
    return ms


def parse_instant(text: str, name: str) -> int:
    """RFC 3339 (with offset) or unix seconds → unix ns; errors name the parameter ``name``."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not math.isfinite(seconds) or abs(seconds) > 1e11:
            raise BadRequest(f"{text[:40]!r} is out of range", name)
        return int(seconds * NS)
    iso = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    try:
        dt = datetime.fromisoformat(iso.replace("t", "T"))
    except ValueError as exc:
        raise BadRequest(f"{text[:80]!r} is neither RFC 3339 nor unix seconds", name) from exc
    if dt.tzinfo is None:
        raise BadRequest(f"{text[:80]!r} needs a timezone offset (e.g. Z)", name)
    return ((dt - _EPOCH) // timedelta(microseconds=1)) * 1000


def resolve(start: str | None, end: str | None, range_: str | None, now_ns: int | None = None) -> TimeRange:
    """The range of the ``start``/``end``/``range`` parameters (``range`` counts back from ``end``)."""
    now = time.time_ns() if now_ns is None else now_ns
    end_ns = parse_instant(end, "end") if end else now
    start_ns = parse_instant(start, "start") if start else end_ns - parse_duration(range_ or "1h", "range") * MS
    if start_ns > end_ns:
        raise BadRequest("must not be after end", "start")
    return TimeRange(start_ns, end_ns)
