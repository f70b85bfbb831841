"""Snapshot: one read per metric name, the same answers as the source it wraps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from query.promql.engine import Engine
from query.promql.memstore import MemoryStore
from query.promql.model import Matcher, Series, Vector, labels_of
from query.promql.snapshot import Snapshot

T = 3_600_000


class Counting:
    def __init__(self, inner: MemoryStore) -> None:
        self.inner, self.selects = inner, 0

    def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        self.selects += 1
        return self.inner.select(matchers, start_ms, end_ms)

    def label_names(self, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int, end_ms: int) -> list[str]:
        return self.inner.label_names(matcher_sets, start_ms, end_ms)

    def label_values(self, name: str, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int,
                     end_ms: int) -> list[str]:
        return self.inner.label_values(name, matcher_sets, start_ms, end_ms)


def store() -> MemoryStore:
    st = MemoryStore()
    rnd = np.random.default_rng(3)
    for i in range(6):
        for code in ("200", "500"):
            vals = np.cumsum(rnd.integers(0, 9, 241)).astype(float)
            st.add_series(labels_of({"__name__": "req_total", "job": f"j{i % 3}", "code": code}),
                          [(k * 15_000, float(v)) for k, v in enumerate(vals)])
        st.add_series(labels_of({"__name__": "cpu", "job": f"j{i % 3}", "i": str(i)}),
                      [(k * 15_000, float(rnd.normal(50, 9))) for k in range(241)])
    return st


QUERIES = ['sum by (job) (rate(req_total{code="500"}[5m])) / sum by (job) (rate(req_total[5m]))',
           'avg_over_time(cpu{job="j1"}[10m]) > 40', "max_over_time(cpu[1m])", 'req_total{job=~"j[01]"}',
           'absent(nope{job="x"})', "count(cpu offset 50m)", '{__name__=~"cp.", job="j2"}']


def answers(engine: Engine, q: str, t: int) -> dict[tuple[tuple[str, str], ...], float]:
    v = engine.instant(q, t)
    assert isinstance(v, Vector)
    return {s.labels: float(s.values[0]) for s in v.series if bool(s.present[0])}


def test_answers_equal_the_wrapped_source_with_one_read_per_name() -> None:
    st = store()
    counting = Counting(st)
    snap = Snapshot(counting, T - 3_600_000 + 600_000, T)  # 50 minutes of horizon
    for q in QUERIES:
        assert answers(Engine(snap), q, T) == answers(Engine(st), q, T), q
    # req_total, cpu, nope: one read each; `offset 50m` (outside the horizon) and the regex name go through
    assert snap.reads == 3
    assert counting.selects == 3 + 2


def test_samples_are_cut_to_the_asked_interval() -> None:
    snap = Snapshot(store(), 0, T)
    (s,) = snap.select([Matcher.make("__name__", "=", "cpu"), Matcher.make("i", "=", "4")], 60_000, 120_000)
    assert s.t.tolist() == [60_000, 75_000, 90_000, 105_000, 120_000]
    assert snap.select([Matcher.make("__name__", "=", "cpu")], T - 1, T)[0].t.tolist() == [T]
    half = Snapshot(store(), 0, T // 2)
    assert half.select([Matcher.make("__name__", "=", "cpu")], T - 1, T)[0].t.tolist() == [T]  # from the inner
    assert half.reads == 0
