"""The evaluator (selectors, operators, aggregations, subqueries) against Prometheus 2.42 semantics.

Expected values come from the Prometheus documentation (querying/operators.md "Vector matching"
examples, querying/basics.md on lookback, offset and @) or from 2.42's engine rules stated per test.
Series come from :class:`~query.promql.memstore.MemoryStore`, the store of ``vigil rules test``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from query.promql.engine import Engine
from query.promql.memstore import MemoryStore
from query.promql.model import STALE_NAN, Labels, PromQLError, Scalar, Value, Vector, labels_of

MIN = 60_000


def store(series: dict[str, list[float]], step: int = MIN) -> MemoryStore:
    """Series written as 'name{a="b"}' -> values at 0, step, 2·step, …; NaN values are skipped."""
    st = MemoryStore()
    for text, values in series.items():
        name, _, rest = text.partition("{")
        pairs = [p.split("=", 1) for p in rest.rstrip("}").split(",") if p]
        labels = labels_of({"__name__": name, **{k.strip(): v.strip().strip('"') for k, v in pairs}})
        for i, v in enumerate(values):
            if not (isinstance(v, float) and math.isnan(v) and v is not STALE_NAN):
                st.add(labels, i * step, v)
    return st


def at(engine: Engine, query: str, t_ms: int) -> dict[Labels, float]:
    v = engine.instant(query, t_ms)
    assert isinstance(v, Vector), v
    return {s.labels: float(s.values[0]) for s in v.series if s.present[0]}


def L(**kw: str) -> Labels:  # noqa: N802 - reads like a label set
    return labels_of({k.replace("name", "__name__") if k == "name" else k: v for k, v in kw.items()})


def test_lookback_is_closed_five_minutes_and_offset_and_at_shift_the_reference_time() -> None:
    # 2.42 vectorSelectorSingle: a sample at exactly t - 5m still counts (Prometheus 3 opened that end).
    e = Engine(store({"foo": [1, 2, 3]}))
    assert at(e, "foo", 2 * MIN + 5 * MIN) == {L(name="foo"): 3.0}
    assert at(e, "foo", 2 * MIN + 5 * MIN + 1) == {}
    assert at(e, "foo offset 1m", 2 * MIN) == {L(name="foo"): 2.0}
    assert at(e, "foo @ 60", 10 * MIN) == {L(name="foo"): 2.0}  # basics.md: @ fixes the evaluation time
    assert at(e, "foo @ 120 offset 1m", 0) == {L(name="foo"): 2.0}
    v = e.range("foo @ end()", 0, 2 * MIN, MIN)
    assert isinstance(v, Vector) and v.series[0].values.tolist() == [3.0, 3.0, 3.0]


def test_a_staleness_marker_ends_the_series_at_once() -> None:
    st = store({"foo": [1, 2]})
    st.add(L(name="foo"), 2 * MIN, STALE_NAN)
    e = Engine(st)
    assert at(e, "foo", 2 * MIN - 1) == {L(name="foo"): 2.0}
    assert at(e, "foo", 2 * MIN) == {}
    assert at(e, "count_over_time(foo[5m])", 3 * MIN) == {(): 2.0}  # markers are not samples in ranges


DOC_ERRORS = {
    'method_code:http_errors:rate5m{method="get",code="500"}': [24.0],
    'method_code:http_errors:rate5m{method="get",code="404"}': [30.0],
    'method_code:http_errors:rate5m{method="put",code="501"}': [3.0],
    'method_code:http_errors:rate5m{method="post",code="500"}': [6.0],
    'method_code:http_errors:rate5m{method="post",code="404"}': [21.0],
    'method:http_requests:rate5m{method="get"}': [600.0],
    'method:http_requests:rate5m{method="del"}': [34.0],
    'method:http_requests:rate5m{method="post"}': [120.0],
}


def test_vector_matching_examples_of_the_prometheus_docs() -> None:
    e = Engine(store(DOC_ERRORS))
    one = at(e, 'method_code:http_errors:rate5m{code="500"} / ignoring(code) method:http_requests:rate5m', 0)
    assert one == {L(method="get"): 24 / 600, L(method="post"): 6 / 120}
    many = at(e, "method_code:http_errors:rate5m / ignoring(code) group_left method:http_requests:rate5m", 0)
    assert many == {L(method="get", code="500"): 24 / 600, L(method="get", code="404"): 30 / 600,
                    L(method="post", code="500"): 6 / 120, L(method="post", code="404"): 21 / 120}
    with pytest.raises(PromQLError, match="many-to-one matching must be explicit"):
        at(e, "method_code:http_errors:rate5m / ignoring(code) method:http_requests:rate5m", 0)
    with pytest.raises(PromQLError, match="duplicate series for the match group"):
        at(e, "method:http_requests:rate5m / on(method) group_left method_code:http_errors:rate5m", 0)


def test_comparisons_filter_or_return_bool_and_set_operators() -> None:
    e = Engine(store({'x{a="1"}': [1.0], 'x{a="2"}': [5.0], 'y{a="2"}': [0.0], 'y{a="3"}': [0.0]}))
    assert at(e, "x > 2", 0) == {L(name="x", a="2"): 5.0}  # a filter keeps the name and value
    assert at(e, "x > bool 2", 0) == {L(a="1"): 0.0, L(a="2"): 1.0}  # bool drops the name
    assert at(e, "3 < x", 0) == {L(name="x", a="2"): 5.0}  # the vector's value, even on the right
    assert at(e, "x and y", 0) == {L(name="x", a="2"): 5.0}
    assert at(e, "x unless y", 0) == {L(name="x", a="1"): 1.0}
    assert at(e, "x or y", 0) == {L(name="x", a="1"): 1.0, L(name="x", a="2"): 5.0, L(name="y", a="3"): 0.0}
    assert at(e, "x == on(a) y", 0) == {}
    assert at(e, "x - on(a) y", 0) == {L(a="2"): 5.0}  # one-to-one on(): only the on labels remain


def test_aggregations_in_prometheus_arithmetic_order() -> None:
    e = Engine(store({'v{g="a",i="1"}': [1.0], 'v{g="a",i="2"}': [2.0], 'v{g="a",i="3"}': [4.0],
                      'v{g="b",i="1"}': [10.0]}))
    assert at(e, "sum by (g) (v)", 0) == {L(g="a"): 7.0, L(g="b"): 10.0}
    # 2.42's incremental mean (mean += v/n - mean/n) over 1, 2, 4 in this order gives 2.333333333333333, not
    # 7/3 = 2.3333333333333335 (promtool 2.42 answered that once; it feeds series in varying order, and
    # 4, 2, 1 gives 2.3333333333333335). Vigil's order is the label order, so its answer is stable.
    assert at(e, "avg without (i) (v)", 0) == {L(g="a"): 2.333333333333333, L(g="b"): 10.0}
    # Welford: mean 7/3, sum of squared deviations (16+1+25)/9 = 42/9 over 3 samples.
    assert at(e, "stdvar by (g) (v)", 0)[L(g="a")] == pytest.approx(14 / 9, rel=1e-15)
    assert at(e, "stddev by (g) (v)", 0)[L(g="b")] == 0.0
    assert at(e, "count(v)", 0) == {(): 4.0}
    assert at(e, "group by (g) (v)", 0) == {L(g="a"): 1.0, L(g="b"): 1.0}
    assert at(e, "max by (g) (v)", 0) == {L(g="a"): 4.0, L(g="b"): 10.0}
    assert at(e, "min(v)", 0) == {(): 1.0}
    # 2.42 quantile: rank 0.5·(3-1) = 1 → the middle value; 0.9 → 2 + 0.8·(4-2).
    assert at(e, 'quantile by (g) (0.5, v{g="a"})', 0) == {L(g="a"): 2.0}
    assert at(e, 'quantile(0.9, v{g="a"})', 0) == {(): pytest.approx(3.6)}
    assert at(e, "count_values without (i) (\"val\", v)", 0) == {
        L(g="a", val="1"): 1.0, L(g="a", val="2"): 1.0, L(g="a", val="4"): 1.0, L(g="b", val="10"): 1.0}
    assert set(at(e, "topk(2, v)", 0)) == {L(name="v", g="a", i="3"), L(name="v", g="b", i="1")}
    assert at(e, "bottomk by (g) (1, v)", 0) == {L(name="v", g="a", i="1"): 1.0, L(name="v", g="b", i="1"): 10.0}


def test_topk_ties_keep_the_earlier_series() -> None:
    # Prometheus leaves the choice among ties unspecified (promtool 2.42 picked {1,2}, {2,3} and {1,3} in
    # repeated runs of one file). Vigil's is stable: 2.42's heap keeps a tied earlier series, and the
    # input order is the label order.
    e = Engine(store({'t{i="1"}': [5.0], 't{i="2"}': [5.0], 't{i="3"}': [5.0]}))
    assert set(at(e, "topk(2, t)", 0)) == {L(name="t", i="1"), L(name="t", i="2")}


def test_subqueries_align_to_absolute_multiples_of_their_step() -> None:
    e = Engine(store({"c": [float(i) for i in range(11)]}))
    # [5m:2m] at 10m covers 6m, 8m, 10m (the start 5m rounded up to a multiple of 2m; closed range).
    assert at(e, "count_over_time(c[5m:2m])", 10 * MIN) == {(): 3.0}
    assert at(e, "sum_over_time(c[5m:2m])", 10 * MIN) == {(): 6.0 + 8.0 + 10.0}
    assert at(e, "max_over_time(c[4m:1m] offset 2m)", 10 * MIN) == {(): 8.0}


def test_a_range_query_equals_instant_queries_at_each_step() -> None:
    vals = {f'm{{k="{k}"}}': [float((i * (k + 3)) % 7) for i in range(30)] for k in range(4)}
    e = Engine(store(vals))
    for q in ["sum(m) / count(m)", "m > bool 3", "topk(1, m)", "rate(m[3m])", "m and on() (sum(m) > 10)",
              "avg_over_time(m[5m:1m])"]:
        r = e.range(q, 0, 29 * MIN, MIN)
        assert isinstance(r, Vector)
        got = {(s.labels, i): float(s.values[i]) for s in r.series for i in range(len(s.values)) if s.present[i]}
        want = {(lab, i): val for i in range(30) for lab, val in at(e, q, i * MIN).items()}
        assert got.keys() == want.keys(), q
        for key, val in want.items():
            assert got[key] == pytest.approx(val, nan_ok=True, rel=1e-12), (q, key)


def test_scalars_strings_and_errors() -> None:
    e = Engine(store({"x": [2.0]}))
    v: Value = e.instant("1 + 2 * 3 ^ 2", 0)
    assert isinstance(v, Scalar) and v.values.tolist() == [19.0]
    assert isinstance(e.instant("-x", 0), Vector)
    with pytest.raises(PromQLError) as err:
        e.instant("sum(x", 0)
    assert err.value.error_type == "bad_data"
    with pytest.raises(PromQLError, match="range query"):
        e.range("x[5m]", 0, MIN, MIN)
    assert np.isnan(Engine(store({})).instant("0/0", 0).values[0])  # type: ignore[union-attr]
