"""Vector and matrix selectors with Prometheus 2.42's lookback, staleness, ``offset`` and ``@`` rules.

* An instant selector at reference time ``r`` takes each series' latest sample with
  ``r - lookback <= t <= r``; a staleness marker as that latest sample means "no value".
* A range selector ``[d]`` at ``r`` takes the samples with ``r - d <= t <= r`` (closed on both ends in
  2.x; Prometheus 3 opened the left end), staleness markers removed.
* The reference time of step ``ts`` is ``(@ time if given, else ts) - offset``; ``@ start()`` and
  ``@ end()`` are the query's start and end.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import promql_parser as pp

from query.promql import stats
from query.promql.model import (
    IntArray,
    Matcher,
    Matrix,
    SampleSource,
    Series,
    Steps,
    Vector,
    VSeries,
    is_stale,
)
from query.promql.parse import at_ms, ms

# keyed by the enum's text: promql_parser.MatchOp is not hashable
_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}


def matchers_of(node: pp.VectorSelector) -> list[Matcher]:
    """The selector's matchers, its metric name included as ``__name__=…``."""
    out = [Matcher.make(m.name, _OPS[str(m.op)], m.value) for m in node.matchers.matchers]
    if node.name and not any(m.name == "__name__" for m in out):
        out.append(Matcher.make("__name__", "=", node.name))
    return out


def reference_times(steps: Steps, at: Any, offset: Any) -> IntArray:
    """Each step's reference time after the ``@`` modifier ``at`` and the ``offset`` (timedelta)."""
    if at is None:
        base = steps.ts
    else:
        if at.type == pp.AtModifierType.Start:
            t = steps.start_ms
        elif at.type == pp.AtModifierType.End:
            t = steps.end_ms
        else:
            t = at_ms(at.at)
        base = np.full(steps.n, t, dtype=np.int64)
    return np.asarray(base - ms(offset), dtype=np.int64)


def instant_from(series: list[Series], ref: IntArray, lookback_ms: int) -> Vector:
    """The instant vector at reference times ``ref`` from raw ``series`` (lookback and staleness applied)."""
    out: list[VSeries] = []
    for s in series:
        if s.t.size == 0:
            continue
        idx = np.searchsorted(s.t, ref, side="right") - 1
        ok = idx >= 0
        safe = np.where(ok, idx, 0)
        t = s.t[safe]
        v = s.v[safe]
        present = ok & (t >= ref - lookback_ms) & ~is_stale(v)
        if present.any():
            out.append(VSeries(s.labels, np.where(present, v, np.nan), present, np.where(present, t, 0)))
    return Vector(out)


def select_vector(source: SampleSource, node: pp.VectorSelector, steps: Steps) -> Vector:
    """Evaluate an instant vector selector at every step."""
    ref = reference_times(steps, node.at, node.offset)
    started = time.perf_counter()
    series = source.select(matchers_of(node), int(ref.min()) - steps.lookback_ms, int(ref.max()))
    fetch_s = time.perf_counter() - started
    series.sort(key=lambda s: s.labels)
    vec = instant_from(series, ref, steps.lookback_ms)
    if stats.active():
        per_step = np.zeros(steps.n, dtype=np.int64)
        for vs in vec.series:
            per_step += vs.present
        stats.count(steps.ts, per_step, fetch_s)
    return vec


def select_matrix(source: SampleSource, node: pp.MatrixSelector, steps: Steps) -> Matrix:
    """Evaluate a range vector selector at every step."""
    vs = node.vector_selector
    ref = reference_times(steps, vs.at, vs.offset)
    rng = ms(node.range)
    started = time.perf_counter()
    raw = source.select(matchers_of(vs), int(ref.min()) - rng, int(ref.max()))
    fetch_s = time.perf_counter() - started
    series: list[Series] = []
    for s in sorted(raw, key=lambda s: s.labels):
        keep = ~is_stale(s.v)
        if keep.any():
            series.append(Series(s.labels, s.t[keep], s.v[keep]))
    matrix = Matrix(series, rng, ref)
    if stats.active():
        per_step = np.zeros(steps.n, dtype=np.int64)
        for s in series:
            lo, hi = matrix.windows(s)
            per_step += np.maximum(hi - lo, 0)
        stats.count(steps.ts, per_step, fetch_s)
    return matrix


def vector_to_series(vec: Vector, ts: IntArray) -> list[Series]:
    """A vector over steps ``ts`` as raw series (one sample per step where present), for subqueries."""
    return [Series(s.labels, ts[s.present], s.values[s.present]) for s in vec.series if s.present.any()]
