"""Time ranges for queries: ``start``/``end`` as RFC 3339 or unix seconds, else ``range`` back from now.

All results are unix nanoseconds (int). ``range`` accepts ``<n>s|m|h|d|w``; default 1h.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from query.errors import BadRequest

_RANGE = re.compile(r"^(\d+)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
NS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TimeRange:
    start_ns: int
    end_ns: int

    @property
    def params(self) -> dict[str, int]:
        return {"start_ns": self.start_ns, "end_ns": self.end_ns}


def parse_duration(text: str) -> int:
    """``15m`` → seconds; raises :class:`BadRequest`."""
    m = _RANGE.match(text.strip())
    if not m or int(m.group(1)) == 0:
        raise BadRequest(f"invalid duration {text!r}; use e.g. 15m, 1h, 24h, 7d")
    return int(m.group(1)) * _UNIT[m.group(2)]


def parse_instant(text: str, name: str) -> int:
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not math.isfinite(seconds) or abs(seconds) > 1e11:
            raise BadRequest(f"{name}: {text[:40]!r} is out of range")
        return int(seconds * NS)
    iso = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    try:
        dt = datetime.fromisoformat(iso.replace("t", "T"))
    except ValueError as exc:
        raise BadRequest(f"{name}: {text[:80]!r} is neither RFC 3339 nor unix seconds") from exc
    if dt.tzinfo is None:
        raise BadRequest(f"{name}: {text[:80]!r} needs a timezone offset (e.g. Z)")
    return ((dt - _EPOCH) // timedelta(microseconds=1)) * 1000


def resolve(start: str | None, end: str | None, range_: str | None, now_ns: int | None = None) -> TimeRange:
    now = time.time_ns() if now_ns is None else now_ns
    end_ns = parse_instant(end, "end") if end else now
    start_ns = parse_instant(start, "start") if start else end_ns - parse_duration(range_ or "1h") * NS
    if start_ns > end_ns:
        raise BadRequest("start must not be after end")
    return TimeRange(start_ns, end_ns)
