"""PromQL time functions: ``time``, ``timestamp`` and the calendar functions, with 2.42 semantics.

Contracts:

* ``time()`` is the step time in seconds (a scalar).
* ``timestamp(v)`` is, per series, the timestamp in seconds of the sample a plain vector selector took
  (:attr:`VSeries.sample_t`, milliseconds) and the step time for any other argument; it drops
  ``__name__``.
* ``year``, ``month``, ``day_of_month``, ``day_of_year``, ``day_of_week``, ``days_in_month``, ``hour``,
  ``minute`` read each value as Unix seconds (truncated to an integer as Go's ``int64(v)`` does on
  amd64: NaN, infinities and out-of-range values become ``-2**63``) and compute the UTC calendar field
  with the arithmetic of Go's ``time`` package (unsigned, wrapping), so even such values give the
  answer Prometheus gives. They drop ``__name__``. Without an argument they answer one series without
  labels for the step time (whole seconds, truncated toward zero).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from query.promql.functions_common import arg_vector, assemble
from query.promql.model import FloatArray, IntArray, Scalar, Steps, Value, Vector, drop_name

U64 = npt.NDArray[np.uint64]

_SECONDS_PER_DAY = 86400
# Go's time package: unixToInternal + internalToAbsolute, added to Unix seconds (int64, wrapping).
_UNIX_TO_ABSOLUTE = 62135596800 + 9223371966579724800
_ABSOLUTE_ZERO_YEAR = -292277022399
_DAYS_BEFORE = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365], dtype=np.int64)
_DAYS_IN = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_I64_MIN = np.iinfo(np.int64).min


def go_int64(values: FloatArray) -> IntArray:
    """Go's ``int64(v)`` on amd64: truncation, and ``-2**63`` for NaN, infinities and out-of-range values."""
    ok = np.isfinite(values) & (values >= -(2.0**63)) & (values < 2.0**63)
    out = np.full(values.shape, _I64_MIN, dtype=np.int64)
    out[ok] = np.trunc(values[ok]).astype(np.int64)
    return out


def _abs(secs: IntArray) -> U64:
    return secs.view(np.uint64) + np.uint64(_UNIX_TO_ABSOLUTE)


def _is_leap(year: IntArray) -> npt.NDArray[np.bool_]:
    return np.asarray((year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0)))


def _year_yday(abs_s: U64) -> tuple[IntArray, IntArray]:
    """Go's ``absDate`` (year and zero-based day of the year)."""
    d = abs_s // np.uint64(_SECONDS_PER_DAY)
    n = d // np.uint64(146097)
    y = np.uint64(400) * n
    d = d - np.uint64(146097) * n
    n = d // np.uint64(36524)
    n = n - (n >> np.uint64(2))
    y = y + np.uint64(100) * n
    d = d - np.uint64(36524) * n
    n = d // np.uint64(1461)
    y = y + np.uint64(4) * n
    d = d - np.uint64(1461) * n
    n = d // np.uint64(365)
    n = n - (n >> np.uint64(2))
    y = y + n
    d = d - np.uint64(365) * n
    return y.astype(np.int64) + _ABSOLUTE_ZERO_YEAR, d.astype(np.int64)


def _month_day(abs_s: U64) -> tuple[IntArray, IntArray, IntArray]:
    """Year, month (1-12) and day of the month, as Go's ``absDate(abs, full=true)``."""
    year, yday = _year_yday(abs_s)
    leap = _is_leap(year)
    feb29 = leap & (yday == 59)
    day = np.where(leap & (yday > 59), yday - 1, yday)
    month = day // 31
    end = _DAYS_BEFORE[month + 1]
    after = day >= end
    begin = np.where(after, end, _DAYS_BEFORE[month])
    month = np.where(after, month + 1, month) + 1
    day = day - begin + 1
    return year, np.where(feb29, 2, month), np.where(feb29, 29, day)


def _year(a: U64) -> IntArray:
    return _year_yday(a)[0]


def _day_of_year(a: U64) -> IntArray:
    return _year_yday(a)[1] + 1


def _month(a: U64) -> IntArray:
    return _month_day(a)[1]


def _day_of_month(a: U64) -> IntArray:
    return _month_day(a)[2]


def _days_in_month(a: U64) -> IntArray:
    year, month, _ = _month_day(a)
    return np.asarray(_DAYS_IN[month - 1] + ((month == 2) & _is_leap(year)), dtype=np.int64)


def _day_of_week(a: U64) -> IntArray:
    # Go: (abs + Monday*secondsPerDay) % secondsPerWeek / secondsPerDay, Sunday = 0.
    return ((a + np.uint64(_SECONDS_PER_DAY)) % np.uint64(7 * _SECONDS_PER_DAY) // np.uint64(_SECONDS_PER_DAY)).astype(
        np.int64)


def _hour(a: U64) -> IntArray:
    return (a % np.uint64(_SECONDS_PER_DAY) // np.uint64(3600)).astype(np.int64)


def _minute(a: U64) -> IntArray:
    return (a % np.uint64(3600) // np.uint64(60)).astype(np.int64)


def _date_fn(field: Callable[[U64], IntArray]) -> Callable[[Steps, list[Value], list[Any]], Value]:
    def fn(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
        if not args:
            secs = np.sign(steps.ts) * (np.abs(steps.ts) // 1000)  # Go's truncating ts/1000
            values = field(_abs(secs.astype(np.int64))).astype(np.float64)
            return Vector([]) if steps.n == 0 else assemble([((), values, np.ones(steps.n, dtype=np.bool_))])
        vec = arg_vector(args, 0)
        return assemble((drop_name(s.labels), field(_abs(go_int64(s.values))).astype(np.float64), s.present)
                        for s in vec.series)
    return fn


def fn_time(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``time()``: the step time in seconds."""
    return Scalar(steps.ts.astype(np.float64) / 1000)


def fn_timestamp(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``timestamp(v)``: the sample's timestamp for a selector argument, else the step time (seconds)."""
    vec = arg_vector(args, 0)
    return assemble((drop_name(s.labels), (steps.ts if s.sample_t is None else s.sample_t).astype(np.float64) / 1000,
                     s.present) for s in vec.series)


TIME_FUNCTIONS: dict[str, Callable[[Steps, list[Value], list[Any]], Value]] = {
    "time": fn_time,
    "timestamp": fn_timestamp,
    "year": _date_fn(_year),
    "month": _date_fn(_month),
    "day_of_month": _date_fn(_day_of_month),
    "day_of_year": _date_fn(_day_of_year),
    "day_of_week": _date_fn(_day_of_week),
    "days_in_month": _date_fn(_days_in_month),
    "hour": _date_fn(_hour),
    "minute": _date_fn(_minute),
}
