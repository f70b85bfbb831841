"""Helpers of the function-library tests: building values by hand and reading results per step."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import promql_parser as pp

from query.promql.functions import FUNCTIONS
from query.promql.model import Matrix, Scalar, Series, Steps, Value, Vector, VSeries, labels_of


def vs(labels: dict[str, str], values: list[float | None]) -> VSeries:
    present = np.array([v is not None for v in values])
    return VSeries(labels_of(labels), np.array([math.nan if v is None else v for v in values]), present)


def mat(series: list[tuple[dict[str, str], list[tuple[float, float]]]], range_s: float, refs_s: list[float]
        ) -> Matrix:
    """Samples given as (seconds, value); windows of ``range_s`` ending at each ``refs_s``."""
    return Matrix([Series(labels_of(lb), np.array([round(t * 1000) for t, _ in pts], dtype=np.int64),
                          np.array([v for _, v in pts], dtype=np.float64)) for lb, pts in series],
                  round(range_s * 1000), np.array([round(r * 1000) for r in refs_s], dtype=np.int64))


def steps_s(*ts: float) -> Steps:
    arr = np.array([round(t * 1000) for t in ts], dtype=np.int64)
    return Steps(arr, int(arr[0]), int(arr[-1]))


def sc(*values: float) -> Scalar:
    return Scalar(np.array(values, dtype=np.float64))


def call(name: str, steps: Steps, *args: Value, exprs: list[Any] | None = None) -> Value:
    return FUNCTIONS[name](steps, list(args), exprs if exprs is not None else [None] * len(args))


def call_args(expr: pp.Expr) -> list[Any]:
    assert isinstance(expr, pp.Call)
    return list(expr.args)


def rows(v: Value) -> dict[tuple[tuple[str, str], ...], list[float | None]]:
    """Each output series as its values per step (None where absent)."""
    assert isinstance(v, Vector)
    out = {}
    for s in v.series:
        assert s.values.shape == s.present.shape and s.present.any()
        out[s.labels] = [float(x) if p else None for x, p in zip(s.values, s.present, strict=True)]
    return out


def one(v: Value) -> list[float | None]:
    r = rows(v)
    assert len(r) == 1
    return next(iter(r.values()))


