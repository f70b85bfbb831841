"""PromQL ``histogram_quantile`` over classic ``le`` buckets, with 2.42 semantics (``bucketQuantile``).

Contracts:

* Series whose ``le`` does not parse as a Go float (``strconv.ParseFloat``: decimal or hex, ``Inf``,
  ``NaN``; out-of-range values are rejected) are ignored.
* Buckets are grouped by their label set without ``le`` (``__name__`` is part of the grouping); a group's
  output series has the labels without ``le`` and ``__name__``, so two metric names with otherwise equal
  labels are a "vector cannot contain metrics with the same labelset" error.
* Per step and group: ``q`` NaN → NaN, ``q < 0`` → -Inf, ``q > 1`` → +Inf; otherwise buckets sorted by
  upper bound, NaN when the highest is not +Inf, equal bounds coalesced (counts summed), counts made
  monotonic, NaN with fewer than two buckets or no observations; the rank ``q * total`` is located in
  the first bucket whose count reaches it and interpolated linearly in it (from 0, or the previous
  bound); in the +Inf bucket the second highest bound is answered; in a first bucket with a bound <= 0
  that bound.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from query.promql.functions_common import arg_scalar, arg_vector, assemble, go_div
from query.promql.model import NAME, Labels, Steps, Value, VSeries

_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_HEX = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?\d+")
_SPECIAL = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
            "+infinity": math.inf, "-infinity": -math.inf, "nan": math.nan}


def parse_go_float(s: str) -> float | None:
    """``strconv.ParseFloat(s, 64)``, or None where Go answers an error (syntax, or out of range)."""
    special = _SPECIAL.get(s.lower())
    if special is not None:
        return special
    if _DECIMAL.fullmatch(s):
        v = float(s)
    elif _HEX.fullmatch(s):
        sign = -1.0 if s.startswith("-") else 1.0
        try:
            v = sign * float.fromhex(s.lstrip("+-"))
        except OverflowError:
            return None
    else:
        return None
    return None if math.isinf(v) else v


def _coalesce_monotonic(buckets: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """2.42's ``coalesceBuckets`` (equal bounds summed) then ``ensureMonotonic`` of sorted buckets."""
    bounds: list[float] = []
    counts: list[float] = []
    for bound, count in buckets:
        if bounds and bounds[-1] == bound:
            counts[-1] += count
        else:
            bounds.append(bound)
            counts.append(count)
    top = counts[0]
    for i in range(1, len(counts)):
        if counts[i] > top:
            top = counts[i]
        elif counts[i] < top:
            counts[i] = top
    return bounds, counts


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """2.42's ``bucketQuantile`` of ``(upper_bound, count)`` pairs (at least one)."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    buckets = sorted(buckets, key=lambda b: b[0])
    if buckets[-1][0] != math.inf:
        return math.nan
    bounds, counts = _coalesce_monotonic(buckets)
    if len(bounds) < 2:
        return math.nan
    observations = counts[-1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = next((i for i in range(len(counts) - 1) if counts[i] >= rank), len(counts) - 1)
    if b == len(counts) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[b], counts[b]
    if b > 0:
        start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * go_div(rank, count)


def fn_histogram_quantile(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``histogram_quantile(q, buckets)``."""
    q, vec = arg_scalar(args, 0), arg_vector(args, 1)
    groups: dict[Labels, list[tuple[float, VSeries]]] = {}
    for s in vec.series:
        le = next((v for k, v in s.labels if k == "le"), None)
        bound = None if le is None else parse_go_float(le)
        if bound is None:
            continue
        groups.setdefault(tuple(p for p in s.labels if p[0] != "le"), []).append((bound, s))
    items = []
    for key, members in groups.items():
        values = np.full(steps.n, np.nan)
        present = np.zeros(steps.n, dtype=np.bool_)
        for i in range(steps.n):
            buckets = [(bound, float(s.values[i])) for bound, s in members if s.present[i]]
            if buckets:
                present[i] = True
                values[i] = bucket_quantile(float(q[i]), buckets)
        items.append((tuple(p for p in key if p[0] != NAME), values, present))
    return assemble(items)


HISTOGRAM_FUNCTIONS: dict[str, Callable[[Steps, list[Value], list[Any]], Value]] = {
    "histogram_quantile": fn_histogram_quantile,
}
