"""Alertmanager time intervals (``time_intervals`` / ``mute_time_intervals``) with 0.25 semantics.

Contract: an interval matches an instant when every given field matches (an absent field matches all):
``times`` are ``[start_minute, end_minute)`` (end exclusive, ``24:00`` allowed); ``weekdays``,
``days_of_month`` (negative = from the month's end), ``months`` and ``years`` ranges are inclusive.
The instant is converted to ``location`` (an IANA zone via zoneinfo; default UTC) first.
A named interval is a list of these; it contains an instant when any of them does.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

_DAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december"]


class TimeIntervalError(ValueError):
    """A malformed interval field."""


def _minutes(text: str) -> int:
    hh, _, mm = text.partition(":")
    if not (hh.isdigit() and mm.isdigit() and len(mm) == 2):
        raise TimeIntervalError(f"couldn't parse timestamp {text}, invalid format")
    h, m = int(hh), int(mm)
    if h > 24 or m > 59 or (h == 24 and m):
        raise TimeIntervalError(f"timestamp {text} out of range")
    return h * 60 + m


def _named(text: str, names: list[str], base: int) -> int:
    t = text.strip().lower()
    if t in names:
        return names.index(t) + base
    if t.lstrip("-").isdigit():
        return int(t)
    raise TimeIntervalError(f"invalid value {text}")


def _range(text: str, names: list[str] | None, base: int, lo: int, hi: int) -> tuple[int, int]:
    t = text.strip()
    a, sep, b = t.partition(":") if ":" in t else (t, "", t)
    av = _named(a, names, base) if names else int(a)
    bv = _named(b, names, base) if names else int(b)
    for v in (av, bv):
        if not lo <= v <= hi or v == 0 and lo < 0:
            raise TimeIntervalError(f"{text} is out of range")
    return av, bv


@dataclass(frozen=True)
class TimeInterval:
    """One entry of a named interval; empty lists mean "any"."""

    times: list[tuple[int, int]] = field(default_factory=list)
    weekdays: list[tuple[int, int]] = field(default_factory=list)
    days_of_month: list[tuple[int, int]] = field(default_factory=list)
    months: list[tuple[int, int]] = field(default_factory=list)
    years: list[tuple[int, int]] = field(default_factory=list)
    location: str = "UTC"

    @staticmethod
    def parse(spec: dict[str, object]) -> TimeInterval:
        """Build from the plain YAML mapping; raises :class:`TimeIntervalError` when malformed."""
        def strs(key: str) -> list[str]:
            v = spec.get(key) or []
            if not isinstance(v, list):
                raise TimeIntervalError(f"{key} must be a list")
            return [str(x) for x in v]
        times = []
        for t in spec.get("times") or []:  # type: ignore[attr-defined]
            s, e = _minutes(str(t.get("start_time", ""))), _minutes(str(t.get("end_time", "")))
            if s >= e:
                raise TimeIntervalError("start time cannot be equal or greater than end time")
            times.append((s, e))
        loc = str(spec.get("location") or "UTC")
        try:
            ZoneInfo("UTC" if loc == "Local" else loc)
        except Exception as exc:
            raise TimeIntervalError(f"unknown time zone {loc}") from exc
        return TimeInterval(
            times, [_range(x, _DAYS, 0, 0, 6) for x in strs("weekdays")],
            [_range(x, None, 0, -31, 31) for x in strs("days_of_month")],
            [_range(x, _MONTHS, 1, 1, 12) for x in strs("months")],
            [_range(x, None, 0, 0, 9999) for x in strs("years")], loc)

    def contains(self, when: datetime) -> bool:
        """Whether ``when`` (aware; naive = UTC) falls in this interval, evaluated in ``location``."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        t = when.astimezone(ZoneInfo("UTC" if self.location == "Local" else self.location))
        if self.times and not any(s <= t.hour * 60 + t.minute < e for s, e in self.times):
            return False
        wd = (t.weekday() + 1) % 7
        if self.weekdays and not any(s <= wd <= e for s, e in self.weekdays):
            return False
        if self.days_of_month:
            n = calendar.monthrange(t.year, t.month)[1]
            ok = False
            for s, e in self.days_of_month:
                s2 = s + n + 1 if s < 0 else s
                e2 = e + n + 1 if e < 0 else e
                ok = ok or max(s2, 1) <= t.day <= min(e2, n)
            if not ok:
                return False
        if self.months and not any(s <= t.month <= e for s, e in self.months):
            return False
        return not self.years or any(s <= t.year <= e for s, e in self.years)


def interval_contains(entries: list[TimeInterval], when: datetime) -> bool:
    """Whether any entry of a named interval contains ``when``."""
    return any(e.contains(when) for e in entries)
