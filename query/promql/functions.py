"""The PromQL function library (Prometheus 2.42 semantics, native histograms excepted): the registry.

Contract: :data:`FUNCTIONS` maps every function name of 2.42 (except ``histogram_count``,
``histogram_sum`` and ``histogram_fraction``, which only read native histograms) to an :data:`Fn`,
called as ``fn(steps, args, exprs)``:

* ``args`` are the evaluated arguments, one value type per parameter of Prometheus' signature: a
  :class:`Vector` for an instant vector, a :class:`Scalar` (one value per step) for a scalar, a
  :class:`String` for a string, a :class:`Matrix` for a range vector;
* ``exprs`` are the arguments' unevaluated ``promql_parser`` nodes (only ``absent`` and
  ``absent_over_time`` read them, for the labels of a selector's equality matchers);
* the result holds one value per step ``steps.ts[i]``: a :class:`Scalar` (``time``, ``pi``, ``scalar``)
  or a :class:`Vector` whose series have arrays of length ``steps.n`` and are each present at some step.

Errors are :class:`PromQLError` with ``error_type="execution"``, as the 2.42 HTTP API answers errors
raised while evaluating (duplicate output label sets, a bad ``holt_winters`` factor, a bad
``label_replace``/``label_join`` argument), with 2.42's messages.

Which functions keep ``__name__``: ``last_over_time``, ``label_replace``, ``label_join``, ``sort``,
``sort_desc``; every other function returning a vector drops it. This module holds the element-wise
functions, ``clamp*``, ``round``, ``scalar``, ``vector``, ``pi``, ``sort*`` and ``absent``; the others are
in ``functions_range`` (range vectors), ``functions_time``, ``functions_labels`` and
``functions_histogram``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from query.promql.functions_common import absent_labels, arg_scalar, arg_vector, assemble
from query.promql.functions_histogram import HISTOGRAM_FUNCTIONS
from query.promql.functions_labels import LABEL_FUNCTIONS
from query.promql.functions_range import RANGE_FUNCTIONS
from query.promql.functions_time import TIME_FUNCTIONS
from query.promql.model import FloatArray, Scalar, Steps, Value, drop_name

Fn = Callable[[Steps, list[Value], list[Any]], Value]


def _sgn(v: FloatArray) -> FloatArray:
    # Go: -1 below zero, 1 above, the value itself otherwise (0, -0, NaN).
    return np.where(v < 0, -1.0, np.where(v > 0, 1.0, v))


def _deg(v: FloatArray) -> FloatArray:
    return v * 180 / math.pi  # (v*180)/pi as Go evaluates it


def _rad(v: FloatArray) -> FloatArray:
    return v * math.pi / 180


_ELEMENTWISE: dict[str, Callable[[FloatArray], FloatArray]] = {
    "abs": np.abs, "ceil": np.ceil, "floor": np.floor, "exp": np.exp, "sqrt": np.sqrt,
    "ln": np.log, "log2": np.log2, "log10": np.log10,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan,
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
    "sgn": _sgn, "deg": _deg, "rad": _rad,
}


def _elementwise(f: Callable[[FloatArray], FloatArray]) -> Fn:
    def fn(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
        vec = arg_vector(args, 0)
        with np.errstate(all="ignore"):
            return assemble((drop_name(s.labels), f(s.values), s.present) for s in vec.series)
    return fn


def fn_clamp(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``clamp(v, min, max)``: ``max(min, min(max, v))``; no output at steps where ``max < min``."""
    vec, lo, hi = arg_vector(args, 0), arg_scalar(args, 1), arg_scalar(args, 2)
    ok = ~(hi < lo)
    return assemble((drop_name(s.labels), np.maximum(lo, np.minimum(hi, s.values)), s.present & ok)
                    for s in vec.series)


def fn_clamp_max(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``clamp_max(v, max)``: ``min(max, v)``."""
    vec, hi = arg_vector(args, 0), arg_scalar(args, 1)
    return assemble((drop_name(s.labels), np.minimum(hi, s.values), s.present) for s in vec.series)


def fn_clamp_min(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``clamp_min(v, min)``: ``max(min, v)``."""
    vec, lo = arg_vector(args, 0), arg_scalar(args, 1)
    return assemble((drop_name(s.labels), np.maximum(lo, s.values), s.present) for s in vec.series)


def fn_round(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``round(v, to_nearest=1)``: ``floor(v * (1/to_nearest) + 0.5) / (1/to_nearest)`` (ties round up)."""
    vec = arg_vector(args, 0)
    to_nearest = arg_scalar(args, 1) if len(args) > 1 else np.ones(steps.n, dtype=np.float64)
    with np.errstate(all="ignore"):
        inverse = 1.0 / to_nearest
        return assemble((drop_name(s.labels), np.floor(s.values * inverse + 0.5) / inverse, s.present)
                        for s in vec.series)


def fn_scalar(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``scalar(v)``: the value of the only series present at a step, NaN when there are none or several."""
    vec = arg_vector(args, 0)
    count = np.zeros(steps.n, dtype=np.int64)
    value = np.full(steps.n, np.nan)
    for s in vec.series:
        count += s.present
        value = np.where(s.present, s.values, value)
    return Scalar(np.where(count == 1, value, np.nan))


def fn_vector(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``vector(s)``: one series without labels holding the scalar."""
    return assemble([((), arg_scalar(args, 0).astype(np.float64), np.ones(steps.n, dtype=np.bool_))])


def fn_pi(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``pi()``."""
    return Scalar(np.full(steps.n, math.pi))


def _sort_key(descending: bool) -> Callable[[float], tuple[bool, float]]:
    def key(v: float) -> tuple[bool, float]:
        if math.isnan(v):
            return (True, 0.0)
        return (False, -v if descending else v)
    return key


def _sorter(descending: bool) -> Fn:
    def fn(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
        # The order only matters for an instant query (2.42 keeps it for a single step only): by the
        # value at the first step, NaN last; series absent at that step come after. Ties keep input order.
        vec = arg_vector(args, 0)
        if steps.n == 0:
            return assemble((s.labels, s.values, s.present) for s in vec.series)
        key = _sort_key(descending)
        ranked = sorted(vec.series, key=lambda s: (not bool(s.present[0]), key(float(s.values[0]))))
        return assemble((s.labels, s.values, s.present) for s in ranked)
    return fn


def fn_absent(steps: Steps, args: list[Value], exprs: list[Any]) -> Value:
    """``absent(v)``: 1 at the steps where ``v`` is empty, labelled from the argument's equality matchers."""
    vec = arg_vector(args, 0)
    seen = np.zeros(steps.n, dtype=np.bool_)
    for s in vec.series:
        seen |= s.present
    return assemble([(absent_labels(exprs[0]) if exprs else (), np.ones(steps.n), ~seen)])


FUNCTIONS: dict[str, Fn] = {
    **{name: _elementwise(f) for name, f in _ELEMENTWISE.items()},
    "clamp": fn_clamp,
    "clamp_max": fn_clamp_max,
    "clamp_min": fn_clamp_min,
    "round": fn_round,
    "scalar": fn_scalar,
    "vector": fn_vector,
    "pi": fn_pi,
    "sort": _sorter(False),
    "sort_desc": _sorter(True),
    "absent": fn_absent,
    **TIME_FUNCTIONS,
    **LABEL_FUNCTIONS,
    **HISTOGRAM_FUNCTIONS,
    **RANGE_FUNCTIONS,
}
