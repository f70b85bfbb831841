"""Helpers shared by the PromQL function modules (argument access, output assembly, Go formatting).

Contracts:

* A function is called as ``fn(steps, args, exprs)`` (see :data:`query.promql.functions.Fn`); the
  ``arg_*`` accessors return an argument of the expected value type or raise :class:`PromQLError`
  (an engine bug, as the parser type-checks calls).
* :func:`assemble` builds an instant-vector result the way 2.42's ``rangeEval`` does: each step's
  output may not hold one label set twice (``execution`` error "vector cannot contain metrics with the
  same labelset"), and outputs with equal label sets at different steps are merged into one series.
* :func:`assemble_range` builds the result of a function over a range vector the way 2.42 does: one
  output series per input series, and any two output series with the same label set (present at any
  step) are an error, even when they never overlap in time.
* Series present at no step are dropped by both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import promql_parser as pp

from query.promql.model import (
    NAME,
    BoolArray,
    FloatArray,
    Labels,
    Matrix,
    PromQLError,
    Scalar,
    String,
    Value,
    Vector,
    VSeries,
    labels_of,
)

DUPLICATE_LABELSET = "vector cannot contain metrics with the same labelset"

Item = tuple[Labels, FloatArray, BoolArray]


def _wrong(i: int, want: str, got: Value) -> PromQLError:
    return PromQLError(f"function argument {i}: expected {want}, got {type(got).__name__}", "execution")


def arg_vector(args: list[Value], i: int) -> Vector:
    """Argument ``i`` as an instant vector."""
    a = args[i]
    if not isinstance(a, Vector):
        raise _wrong(i, "instant vector", a)
    return a


def arg_scalar(args: list[Value], i: int) -> FloatArray:
    """Argument ``i`` as a scalar: its value at every step."""
    a = args[i]
    if not isinstance(a, Scalar):
        raise _wrong(i, "scalar", a)
    return a.values


def arg_string(args: list[Value], i: int) -> str:
    """Argument ``i`` as a string literal."""
    a = args[i]
    if not isinstance(a, String):
        raise _wrong(i, "string", a)
    return a.value


def arg_matrix(args: list[Value], i: int) -> Matrix:
    """Argument ``i`` as a range vector."""
    a = args[i]
    if not isinstance(a, Matrix):
        raise _wrong(i, "range vector", a)
    return a


def assemble(items: Iterable[Item]) -> Vector:
    """An instant-vector result: per-step duplicate check, equal label sets merged across steps."""
    out: dict[Labels, VSeries] = {}
    for labels, values, present in items:
        if not present.any():
            continue
        prev = out.get(labels)
        if prev is None:
            out[labels] = VSeries(labels, np.asarray(values, dtype=np.float64), present.copy())
            continue
        if (prev.present & present).any():
            raise PromQLError(DUPLICATE_LABELSET, "execution")
        prev.values = np.where(present, values, prev.values)
        prev.present = prev.present | present
    return Vector(list(out.values()))


def assemble_range(items: Iterable[Item]) -> Vector:
    """A range-function result: any repeated label set among the non-empty outputs is an error."""
    out: dict[Labels, VSeries] = {}
    for labels, values, present in items:
        if not present.any():
            continue
        if labels in out:
            raise PromQLError(DUPLICATE_LABELSET, "execution")
        out[labels] = VSeries(labels, np.asarray(values, dtype=np.float64), present.copy())
    return Vector(list(out.values()))


def unwrap_parens(expr: Any) -> Any:
    """``expr`` without enclosing parentheses (2.42 unwraps them before calling a function)."""
    while isinstance(expr, pp.ParenExpr):
        expr = expr.expr
    return expr


def absent_labels(expr: Any) -> Labels:
    """The labels ``absent``/``absent_over_time`` report: 2.42's ``createLabelsForAbsentFunction``.

    Only for a (parenthesised) vector or matrix selector: each label with an equality matcher, except
    ``__name__``; a label matched more than once, or by another matcher type, is left out.
    """
    expr = unwrap_parens(expr)
    if isinstance(expr, pp.MatrixSelector):
        expr = expr.vector_selector
    if not isinstance(expr, pp.VectorSelector):
        return ()
    out: dict[str, str] = {}
    seen: set[str] = set()
    for m in expr.matchers.matchers:
        if m.name == NAME:
            continue
        if m.op == pp.MatchOp.Equal and m.name not in seen:
            out[m.name] = m.value
            seen.add(m.name)
        else:
            out.pop(m.name, None)
    return labels_of(out)


def go_div(a: float, b: float) -> float:
    """IEEE division as Go does it (no exception for a zero divisor)."""
    if b != 0:
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def go_float(v: float) -> str:
    """``v`` formatted like Go's ``%f`` verb."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return f"{v:f}"


def valid_label_name(name: str) -> bool:
    """Whether ``name`` is a valid label name (``[a-zA-Z_][a-zA-Z0-9_]*``, as common/model 2.42)."""
    return bool(name) and all(("a" <= c <= "z") or ("A" <= c <= "Z") or c == "_" or ("0" <= c <= "9" and i > 0)
                              for i, c in enumerate(name))
