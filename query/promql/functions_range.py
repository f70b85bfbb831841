"""PromQL functions over a range vector (a :class:`Matrix` argument), with Prometheus 2.42 semantics.

Contracts:

* Step ``i``'s window of a series is its samples with ``ref[i] - range_ms <= t <= ref[i]`` (closed, as
  in 2.x; 3.x made it left-open). A function is evaluated only where the window holds a sample; its
  output series has the input's labels without ``__name__`` (``last_over_time`` keeps it), and two
  output series with the same labels are an "execution" error "vector cannot contain metrics with the
  same labelset" (2.42 checks the whole result, not each step).
* ``rate``/``increase``/``delta`` follow 2.42's ``extrapolatedRate`` (at least two samples; counter
  resets add the value before the drop; the sampled interval is extrapolated to each window boundary
  when the gap is under 1.1 times the average sample interval, else by half that interval; a counter
  is not extrapolated below zero; ``rate`` divides by the range in seconds). ``irate``/``idelta`` use the
  last two samples. ``deriv`` is the least-squares slope (times relative to the first sample),
  ``predict_linear(v, t)`` the regression's value ``t`` seconds after the step time (2.42's
  ``linearRegression``, Kahan-compensated sums; a constant series has slope 0, or NaN when it is
  infinite). ``holt_winters(v, sf, tf)`` is 2.42's double exponential smoothing; a factor outside
  ``(0, 1)`` is an error when evaluated.
* ``*_over_time`` follow 2.42: Kahan sums (``sum``, ``avg`` with its incremental mean and infinity
  handling, ``stddev``/``stdvar`` Welford updates), ``min``/``max`` skipping NaN unless all are NaN,
  ``quantile_over_time`` with 2.42's ``quantile`` (NaN sorted first, linear interpolation).
* ``absent_over_time`` answers 1, labelled from the selector's equality matchers, at the steps where
  no series has a sample in its window.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from query.promql.functions_common import (
    absent_labels,
    arg_matrix,
    arg_scalar,
    assemble,
    assemble_range,
    go_div,
    go_float,
)
from query.promql.model import BoolArray, FloatArray, Matrix, PromQLError, Series, Steps, Value, Vector, drop_name

WindowFn = Callable[[list[int], list[float], int], float | None]  # (times ms, values, step) -> value


def kahan_inc(inc: float, total: float, c: float) -> tuple[float, float]:
    """One step of 2.42's Kahan-Neumaier summation: ``(new sum, new compensation)``."""
    t = total + inc
    if abs(total) >= abs(inc):
        c += (total - t) + inc
    else:
        c += (inc - t) + total
    return t, c


def range_seconds(range_ms: int) -> float:
    """Go's ``time.Duration.Seconds()`` of a range given in milliseconds."""
    return float(range_ms // 1000) + float((range_ms % 1000) * 1_000_000) / 1e9


def _over_windows(m: Matrix, f: WindowFn, keep_name: bool = False) -> Vector:
    items = []
    n = int(m.ref.shape[0])
    for s in m.series:
        lo, hi = m.windows(s)
        t, v = s.t.tolist(), s.v.tolist()
        out = np.full(n, np.nan)
        present = np.zeros(n, dtype=np.bool_)
        for i in range(n):
            a, b = int(lo[i]), int(hi[i])
            if a < b:
                r = f(t[a:b], v[a:b], i)
                if r is not None:
                    out[i] = r
                    present[i] = True
        items.append((s.labels if keep_name else drop_name(s.labels), out, present))
    return assemble_range(items)


def extrapolated_rate(t: list[int], v: list[float], start_ms: int, end_ms: int, range_s: float,
                      counter: bool, per_second: bool) -> float | None:
    """2.42's ``extrapolatedRate`` of one window ``[start_ms, end_ms]``; None with fewer than two samples."""
    if len(v) < 2:
        return None
    result = v[-1] - v[0]
    if counter:
        prev = v[0]
        for cur in v[1:]:
            if cur < prev:
                result += prev
            prev = cur
    to_start = (t[0] - start_ms) / 1000
    to_end = (end_ms - t[-1]) / 1000
    sampled = (t[-1] - t[0]) / 1000
    average = sampled / (len(v) - 1)
    if counter and result > 0 and v[0] >= 0:
        to_zero = sampled * (v[0] / result)
        if to_zero < to_start:
            to_start = to_zero
    threshold = average * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average / 2
    interval += to_end if to_end < threshold else average / 2
    factor = go_div(interval, sampled)
    if per_second:
        factor = go_div(factor, range_s)
    return result * factor


def _rate_series(s: Series, m: Matrix, counter: bool, per_second: bool) -> tuple[FloatArray, BoolArray]:
    """``extrapolated_rate`` of every step's window of one series, vectorized over the steps.

    numpy does the same IEEE operations in the same order as :func:`extrapolated_rate`, so the results
    are bit-identical; windows that contain a counter reset (rare) go through the scalar function,
    whose reset additions are sequential as in 2.42.
    """
    lo, hi = m.windows(s)
    n = int(m.ref.shape[0])
    valid = (hi - lo) >= 2
    if not valid.any():
        return np.full(n, np.nan), valid
    a = np.where(valid, lo, 0)
    b = np.where(valid, hi - 1, 1)
    first, last = s.v[a], s.v[b]
    t0, tl = s.t[a], s.t[b]
    start = m.ref - m.range_ms
    with np.errstate(all="ignore"):
        result = last - first
        to_start = (t0 - start) / 1000
        to_end = (m.ref - tl) / 1000
        sampled = (tl - t0) / 1000
        average = sampled / (b - a)
        if counter:
            to_zero = sampled * (first / result)
            to_start = np.where((result > 0) & (first >= 0) & (to_zero < to_start), to_zero, to_start)
        threshold = average * 1.1
        interval = sampled + np.where(to_start < threshold, to_start, average / 2)
        interval = interval + np.where(to_end < threshold, to_end, average / 2)
        factor = interval / sampled
        if per_second:
            factor = factor / range_seconds(m.range_ms)
        out = result * factor
    if counter and s.v.size > 1:
        drops = np.concatenate(([0], np.cumsum(s.v[1:] < s.v[:-1])))
        reset = valid & ((drops[b] - drops[a]) > 0)
        if reset.any():
            t, v, refs, rs = s.t.tolist(), s.v.tolist(), m.ref.tolist(), range_seconds(m.range_ms)
            for i in np.flatnonzero(reset).tolist():
                x, y = int(lo[i]), int(hi[i])
                r = extrapolated_rate(t[x:y], v[x:y], refs[i] - m.range_ms, refs[i], rs, counter, per_second)
                out[i] = math.nan if r is None else r
    return np.where(valid, out, np.nan), valid


def _rate_fn(counter: bool, per_second: bool) -> Callable[[Steps, list[Value], list[Any]], Value]:
    def fn(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
        m = arg_matrix(args, 0)
        items = []
        for s in m.series:
            values, present = _rate_series(s, m, counter, per_second)
            items.append((drop_name(s.labels), values, present))
        return assemble_range(items)
    return fn


def instant_value(t: list[int], v: list[float], per_second: bool) -> float | None:
    """2.42's ``instantValue``: ``irate``/``idelta`` of the last two samples of a window."""
    if len(v) < 2:
        return None
    last, prev = v[-1], v[-2]
    result = last if per_second and last < prev else last - prev
    interval = t[-1] - t[-2]
    if interval == 0:
        return None
    return result / (interval / 1000) if per_second else result


def linear_regression(t: list[int], v: list[float], intercept_ms: int) -> tuple[float, float]:
    """2.42's ``linearRegression``: ``(slope per second, value at intercept_ms)``."""
    n = sum_x = c_x = sum_y = c_y = sum_xy = c_xy = sum_x2 = c_x2 = 0.0
    init_y = v[0]
    const_y = True
    for i, (ts, y) in enumerate(zip(t, v, strict=True)):
        if const_y and i > 0 and y != init_y:
            const_y = False
        n += 1.0
        x = (ts - intercept_ms) / 1e3
        sum_x, c_x = kahan_inc(x, sum_x, c_x)
        sum_y, c_y = kahan_inc(y, sum_y, c_y)
        sum_xy, c_xy = kahan_inc(x * y, sum_xy, c_xy)
        sum_x2, c_x2 = kahan_inc(x * x, sum_x2, c_x2)
    if const_y:
        return (math.nan, math.nan) if math.isinf(init_y) else (0.0, init_y)
    sum_x, sum_y, sum_xy, sum_x2 = sum_x + c_x, sum_y + c_y, sum_xy + c_xy, sum_x2 + c_x2
    cov_xy = sum_xy - sum_x * sum_y / n
    var_x = sum_x2 - sum_x * sum_x / n
    slope = go_div(cov_xy, var_x)
    return slope, sum_y / n - slope * sum_x / n


def holt_winters(v: list[float], sf: float, tf: float) -> float | None:
    """2.42's ``funcHoltWinters`` (double exponential smoothing) of one window."""
    if sf <= 0 or sf >= 1:
        raise PromQLError(f"invalid smoothing factor. Expected: 0 < sf < 1, got: {go_float(sf)}", "execution")
    if tf <= 0 or tf >= 1:
        raise PromQLError(f"invalid trend factor. Expected: 0 < tf < 1, got: {go_float(tf)}", "execution")
    if len(v) < 2:
        return None
    s0, s1, b = 0.0, v[0], v[1] - v[0]
    for i in range(1, len(v)):
        x = sf * v[i]
        if i > 1:  # calcTrendValue(i-1, ...) is the initial trend for i-1 == 0
            b = tf * (s1 - s0) + (1 - tf) * b
        y = (1 - sf) * (s1 + b)
        s0, s1 = s1, x + y
    return s1


def quantile(q: float, values: list[float]) -> float:
    """2.42's ``quantile`` (φ-quantile with linear interpolation; NaN sorts first)."""
    if not values or math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(values, key=lambda x: (not math.isnan(x), 0.0 if math.isnan(x) else x))
    n = float(len(ordered))
    rank = q * (n - 1)
    lower = max(0.0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[int(lower)] * (1 - weight) + ordered[int(upper)] * weight


def avg(v: list[float]) -> float:
    """2.42's ``avg_over_time`` of one window (incremental Kahan mean, infinities kept)."""
    mean = count = c = 0.0
    for x in v:
        count += 1
        if math.isinf(mean):
            if math.isinf(x) and (mean > 0) == (x > 0):
                continue
            if not math.isinf(x) and not math.isnan(x):
                continue
        mean, c = kahan_inc(x / count - mean / count, mean, c)
    return mean if math.isinf(mean) else mean + c


def ksum(v: list[float]) -> float:
    """2.42's ``sum_over_time`` of one window (Kahan-Neumaier)."""
    total = c = 0.0
    for x in v:
        total, c = kahan_inc(x, total, c)
    return total if math.isinf(total) else total + c


def stdvar(v: list[float]) -> float:
    """2.42's ``stdvar_over_time`` of one window (Welford with Kahan-compensated mean and sum)."""
    count = mean = c_mean = aux = c_aux = 0.0
    for x in v:
        count += 1
        delta = x - (mean + c_mean)
        mean, c_mean = kahan_inc(delta / count, mean, c_mean)
        aux, c_aux = kahan_inc(delta * (x - (mean + c_mean)), aux, c_aux)
    return (aux + c_aux) / count


def stddev(v: list[float]) -> float:
    """2.42's ``stddev_over_time`` of one window: the square root of :func:`stdvar` (NaN if negative)."""
    x = stdvar(v)
    return math.sqrt(x) if x >= 0 else math.nan


def _extreme(v: list[float], smaller: bool) -> float:
    best = v[0]
    for x in v:
        if (x < best if smaller else x > best) or math.isnan(best):
            best = x
    return best


def _changes(v: list[float]) -> float:
    return float(sum(1 for a, b in zip(v, v[1:], strict=False) if b != a and not (math.isnan(a) and math.isnan(b))))


def _resets(v: list[float]) -> float:
    return float(sum(1 for a, b in zip(v, v[1:], strict=False) if b < a))


def _simple(f: Callable[[list[float]], float | None], keep_name: bool = False
            ) -> Callable[[Steps, list[Value], list[Any]], Value]:
    def fn(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
        return _over_windows(arg_matrix(args, 0), lambda t, v, i: f(v), keep_name)
    return fn


def fn_deriv(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``deriv(v[d])``: the per-second least-squares slope (needs two samples)."""
    return _over_windows(arg_matrix(args, 0),
                         lambda t, v, i: linear_regression(t, v, t[0])[0] if len(v) >= 2 else None)


def fn_predict_linear(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``predict_linear(v[d], t)``: the regression's value ``t`` seconds after the step time."""
    m = arg_matrix(args, 0)
    dur: list[float] = arg_scalar(args, 1).tolist()
    ts: list[int] = steps.ts.tolist()

    def f(t: list[int], v: list[float], i: int) -> float | None:
        if len(v) < 2:
            return None
        slope, intercept = linear_regression(t, v, ts[i])
        return slope * dur[i] + intercept
    return _over_windows(m, f)


def fn_holt_winters(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``holt_winters(v[d], sf, tf)``."""
    m, sf, tf = arg_matrix(args, 0), arg_scalar(args, 1).tolist(), arg_scalar(args, 2).tolist()
    return _over_windows(m, lambda t, v, i: holt_winters(v, sf[i], tf[i]))


def fn_quantile_over_time(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``quantile_over_time(q, v[d])``."""
    q, m = arg_scalar(args, 0).tolist(), arg_matrix(args, 1)
    return _over_windows(m, lambda t, v, i: quantile(q[i], v))


def fn_absent_over_time(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``absent_over_time(v[d])``: 1 where no series has a sample in its window."""
    m = arg_matrix(args, 0)
    n = int(m.ref.shape[0])
    seen = np.zeros(n, dtype=np.bool_)
    for s in m.series:
        lo, hi = m.windows(s)
        seen |= hi > lo
    return assemble([(absent_labels(exprs[0]) if exprs else (), np.ones(n), ~seen)])


RANGE_FUNCTIONS: dict[str, Callable[[Steps, list[Value], list[Any]], Value]] = {
    "rate": _rate_fn(True, True),
    "increase": _rate_fn(True, False),
    "delta": _rate_fn(False, False),
    "irate": lambda steps, args, exprs: _over_windows(arg_matrix(args, 0), lambda t, v, i: instant_value(t, v, True)),
    "idelta": lambda steps, args, exprs: _over_windows(arg_matrix(args, 0),
                                                       lambda t, v, i: instant_value(t, v, False)),
    "deriv": fn_deriv,
    "predict_linear": fn_predict_linear,
    "holt_winters": fn_holt_winters,
    "changes": _simple(_changes),
    "resets": _simple(_resets),
    "avg_over_time": _simple(avg),
    "sum_over_time": _simple(ksum),
    "count_over_time": _simple(lambda v: float(len(v))),
    "min_over_time": _simple(lambda v: _extreme(v, True)),
    "max_over_time": _simple(lambda v: _extreme(v, False)),
    "last_over_time": _simple(lambda v: v[-1], keep_name=True),
    "present_over_time": _simple(lambda v: 1.0),
    "stdvar_over_time": _simple(stdvar),
    "stddev_over_time": _simple(stddev),
    "quantile_over_time": fn_quantile_over_time,
    "absent_over_time": fn_absent_over_time,
}
