"""Query statistics as Prometheus 2.42's HTTP API reports them with ``stats=…`` (``data.stats``).

Usage: ``with collecting(steps_ts) as st: value = engine.range(…)`` then ``st.to_json(per_step)``. The
selectors call :func:`count` with the samples they load; outside :func:`collecting` that is a no-op,
so the engine pays nothing when no statistics are asked for. The collector lives in a context
variable, so concurrent queries (each in its own worker thread) keep separate counts.

What the figures mean here (2.42's names, Vigil's measurement):

* ``samples.totalQueryableSamples`` — as 2.42 counts it: per step, an instant selector adds one sample
  per series it returns, a range selector the samples in each series' window. Samples loaded by a
  subquery's inner steps count in the total but not per step (2.42 spreads them over the outer steps).
* ``samples.totalQueryableSamplesPerStep`` — ``[[unix seconds, count], …]`` over the query's steps, only
  with ``stats=all`` (as 2.42).
* ``samples.peakSamples`` — the largest number of selected samples of any one step plus the result's
  samples at that step: an estimate of 2.42's peak, which also counts intermediate vectors.
* ``timings`` (seconds) — ``queryPreparationTime`` is the time spent reading samples from the store,
  ``innerEvalTime`` the evaluation without it, ``evalTotalTime`` both, ``execTotalTime`` the whole request
  handling including JSON, ``execQueueTime`` 0 (no queue), ``resultSortTime`` 0 (results are sorted
  as they are built).
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from query.promql.model import IntArray

_CURRENT: contextvars.ContextVar[Stats | None] = contextvars.ContextVar("promql_stats", default=None)


@dataclass
class Stats:
    """Counts and timings of one query over steps ``ts``."""

    ts: IntArray
    per_step: IntArray = field(init=False)
    total: int = 0
    fetch_s: float = 0.0
    eval_s: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    result_per_step: IntArray | None = None

    def __post_init__(self) -> None:  # noqa: D105
        self.per_step = np.zeros(self.ts.shape[0], dtype=np.int64)

    def to_json(self, per_step: bool) -> str:
        """``data.stats`` as 2.42 encodes it."""
        peak_at = self.per_step + (self.result_per_step if self.result_per_step is not None else 0)
        samples: dict[str, object] = {}
        if per_step:
            samples["totalQueryableSamplesPerStep"] = [[int(t) / 1000, int(c)]
                                                       for t, c in zip(self.ts, self.per_step, strict=True)]
        samples["totalQueryableSamples"] = int(self.total)
        samples["peakSamples"] = int(peak_at.max()) if peak_at.shape[0] else 0
        timings = {"evalTotalTime": self.eval_s, "resultSortTime": 0.0, "queryPreparationTime": self.fetch_s,
                   "innerEvalTime": max(0.0, self.eval_s - self.fetch_s), "execQueueTime": 0.0,
                   "execTotalTime": time.perf_counter() - self.started}
        return json.dumps({"timings": timings, "samples": samples}, separators=(",", ":"))


@contextmanager
def collecting(ts: IntArray, enabled: bool = True) -> Iterator[Stats]:
    """Collect the statistics of the query evaluated inside the block, over its steps ``ts``.

    With ``enabled`` False the selectors count nothing (the figures stay 0).
    """
    st = Stats(np.asarray(ts, dtype=np.int64))
    if not enabled:
        yield st
        return
    token = _CURRENT.set(st)
    try:
        yield st
    finally:
        _CURRENT.reset(token)


def count(step_ts: IntArray, per_step: IntArray, fetch_s: float) -> None:
    """Record samples loaded by one selector: ``per_step[i]`` at step time ``step_ts[i]``."""
    st = _CURRENT.get()
    if st is None:
        return
    st.total += int(per_step.sum())
    st.fetch_s += fetch_s
    if step_ts.shape == st.ts.shape and bool(np.array_equal(step_ts, st.ts)):
        st.per_step += per_step


def active() -> bool:
    """Whether statistics are being collected."""
    return _CURRENT.get() is not None
