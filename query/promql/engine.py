"""The PromQL evaluator: one engine over any :class:`~query.promql.model.SampleSource`.

``Engine(source).instant(query, t_ms)`` and ``.range(query, start_ms, end_ms, step_ms)`` parse the
query and evaluate every AST node at all steps at once (a range query is not N instant queries), with
Prometheus 2.42's rules: 5-minute lookback (configurable), staleness markers, ``offset`` and ``@``,
subqueries aligned to absolute multiples of their step (default step: ``default_step_ms``, the rule
evaluation interval in Prometheus), function and operator semantics of :mod:`query.promql.functions`,
:mod:`query.promql.binary`, :mod:`query.promql.aggregate`. Results are :mod:`query.promql.model` values:
a :class:`Vector` / :class:`Scalar` / :class:`String` over the steps, or a :class:`Matrix` when an
instant query is a bare range selector. Errors raise :class:`PromQLError` with the API error type.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import promql_parser as pp

from query.promql import aggregate, binary, selectors
from query.promql.model import (
    Matrix,
    PromQLError,
    SampleSource,
    Scalar,
    Steps,
    String,
    Value,
    Vector,
    VSeries,
    drop_name,
)
from query.promql.parse import ms, parse


class Engine:
    """Evaluates PromQL over ``source``; thread-safe as long as the source is."""

    def __init__(self, source: SampleSource, lookback_ms: int = 300_000, default_step_ms: int = 60_000) -> None:
        """An engine reading ``source`` with the given lookback and default subquery step."""
        self.source = source
        self.lookback_ms = lookback_ms
        self.default_step_ms = default_step_ms

    def instant(self, query: str | pp.Expr, t_ms: int) -> Value:
        """``query`` evaluated at ``t_ms`` (one step)."""
        expr = parse(query) if isinstance(query, str) else query
        steps = Steps.instant(t_ms, self.lookback_ms)
        if isinstance(expr, pp.MatrixSelector):  # an instant query may return a range vector
            return selectors.select_matrix(self.source, expr, steps)
        return self.eval(expr, steps)

    def range(self, query: str | pp.Expr, start_ms: int, end_ms: int, step_ms: int) -> Value:
        """``query`` at ``start, start+step, … <= end``; a range vector or string is a ``bad_data`` error."""
        if step_ms <= 0:
            raise PromQLError("zero or negative query resolution step widths are not accepted", "bad_data")
        if end_ms < start_ms:
            raise PromQLError("end timestamp must not be before start time", "bad_data")
        expr = parse(query) if isinstance(query, str) else query
        result = self.eval(expr, Steps.range(start_ms, end_ms, step_ms, self.lookback_ms))
        if isinstance(result, (Matrix, String)):
            kind = "range vector" if isinstance(result, Matrix) else "string"
            raise PromQLError(f"invalid expression type {kind!r} for range query, must be Scalar or instant Vector",
                              "bad_data")
        return result

    # ---- evaluation -------------------------------------------------------------------------------

    def eval(self, node: Any, steps: Steps) -> Value:
        """Evaluate one AST node at every step of ``steps``."""
        if isinstance(node, pp.ParenExpr):
            return self.eval(node.expr, steps)
        if isinstance(node, pp.NumberLiteral):
            return Scalar(np.full(steps.n, float(node.val)))
        if isinstance(node, pp.StringLiteral):
            return String(node.val)
        if isinstance(node, pp.VectorSelector):
            return selectors.select_vector(self.source, node, steps)
        if isinstance(node, pp.MatrixSelector):
            return selectors.select_matrix(self.source, node, steps)
        if isinstance(node, pp.SubqueryExpr):
            return self._subquery(node, steps)
        if isinstance(node, pp.UnaryExpr):
            return _negate(self.eval(node.expr, steps))
        if isinstance(node, pp.BinaryExpr):
            return binary.binary(str(node.op).strip().lower(), self.eval(node.lhs, steps),
                                 self.eval(node.rhs, steps), node.modifier, steps.n)
        if isinstance(node, pp.AggregateExpr):
            return self._aggregate(node, steps)
        if isinstance(node, pp.Call):
            return self._call(node, steps)
        raise PromQLError(f"unsupported expression {node}", "bad_data")

    def _subquery(self, node: pp.SubqueryExpr, steps: Steps) -> Matrix:
        ref = selectors.reference_times(steps, node.at, node.offset)
        rng = ms(node.range)
        step = ms(node.step) or self.default_step_ms
        lo = int(ref.min()) - rng
        start = step * (lo // step)
        if start < lo:
            start += step
        end = int(ref.max())
        if end < start:
            return Matrix([], rng, ref)
        inner = Steps.range(start, end, step, self.lookback_ms)
        inner = Steps(inner.ts, steps.start_ms, steps.end_ms, self.lookback_ms)  # @ start()/end() stay the query's
        value = self.eval(node.expr, inner)
        if not isinstance(value, Vector):
            raise PromQLError("subquery is only allowed on instant vector", "bad_data")
        return Matrix(selectors.vector_to_series(value, inner.ts), rng, ref)

    def _aggregate(self, node: pp.AggregateExpr, steps: Steps) -> Vector:
        op = str(node.op).strip().lower()
        vec = self.eval(node.expr, steps)
        if not isinstance(vec, Vector):
            raise PromQLError(f"expected instant vector in aggregation {op}", "bad_data")
        param = self.eval(node.param, steps) if node.param is not None else None
        mod = node.modifier
        by = mod is None or mod.type == pp.AggModifierType.By
        names = frozenset(mod.labels) if mod is not None else frozenset()
        return aggregate.aggregate(op, vec, param, by, names, steps.n)

    def _call(self, node: pp.Call, steps: Steps) -> Value:
        from query.promql.functions import FUNCTIONS  # the function library imports model only

        name = node.func.name
        fn = FUNCTIONS.get(name)
        if fn is None:
            raise PromQLError(f"unknown function with name {name!r}", "bad_data")
        args = [self.eval(a, steps) for a in node.args]
        return fn(steps, args, list(node.args))


def _negate(v: Value) -> Value:
    if isinstance(v, Scalar):
        return Scalar(-v.values)
    if isinstance(v, Vector):
        return Vector([VSeries(drop_name(s.labels), -s.values, s.present) for s in v.series])
    raise PromQLError("unary expression only allowed on expressions of type scalar or instant vector", "bad_data")
