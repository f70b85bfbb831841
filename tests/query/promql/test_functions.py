"""query.promql.functions*: the 2.42 function library, called directly with hand-built values.

Expected values are worked by hand from the 2.42 algorithms (promql/functions.go of v2.42.0), as each
test's comments say; the promtool parity files (``parity/*.yml``) check the same functions against promtool.
"""

from __future__ import annotations

import math

import pytest

from query.promql.functions import FUNCTIONS
from query.promql.model import (
    NAME,
    PromQLError,
    Steps,
)
from query.promql.parse import parse
from tests.query.promql.fn_helpers import call, call_args, mat, one, rows, sc, steps_s

# ---- registry -----------------------------------------------------------------------------------------

ALL_2_42 = """
abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max
clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv exp floor
histogram_quantile holt_winters hour idelta increase irate label_join label_replace ln log10 log2 last_over_time
max_over_time min_over_time minute month pi predict_linear present_over_time quantile_over_time rad rate resets
round scalar sgn sin sinh sort sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time tan tanh time
timestamp vector year
"""


def test_registry_has_every_2_42_function_but_native_histogram_ones() -> None:
    # 2.42's FunctionCalls minus histogram_count, histogram_sum, histogram_fraction.
    assert sorted(FUNCTIONS) == sorted(ALL_2_42.split())


# ---- rate / increase / delta --------------------------------------------------------------------------


def test_rate_extrapolates_to_boundaries_and_divides_by_range() -> None:
    # By hand (extrapolatedRate): samples 10@15s 20@30s 30@45s in [0, 60]: result 20, sampled 30s,
    # average 15s, threshold 16.5s; to start 15s < 16.5 -> extend 15; to end 15s -> extend 15:
    # 20 * 60/30 = 40 (increase), / 60 = 0.6667 (rate). Counter zero point: 30 * 10/20 = 15s, not < 15.
    m = mat([({NAME: "c", "a": "1"}, [(15, 10), (30, 20), (45, 30)])], 60, [60])
    assert rows(call("increase", Steps.instant(60_000), m)) == {(("a", "1"),): [40.0]}
    assert one(call("rate", Steps.instant(60_000), m)) == [pytest.approx(40 / 60)]
    # delta is not a counter: same here
    assert one(call("delta", Steps.instant(60_000), m)) == [40.0]


def test_rate_limits_extrapolation_by_half_interval_and_zero_point() -> None:
    # Samples 5@40s 10@50s in [0, 60]: result 5, sampled 10s, average 10s, threshold 11s.
    # Start: 40s away >= 11 -> extend by 5s (half average); zero point 10*5/5 = 10s < 40 -> 10s, which
    # is < 11 -> extend by 10s. End: 10s < 11 -> extend 10. increase = 5 * (10+10+10)/10 = 15.
    m = mat([({"a": "1"}, [(40, 5), (50, 10)])], 60, [60])
    assert one(call("increase", Steps.instant(60_000), m)) == [15.0]
    # delta has no zero-point rule: start gets the half interval 5s: 5 * (10+5+10)/10 = 12.5
    assert one(call("delta", Steps.instant(60_000), m)) == [12.5]


def test_increase_corrects_counter_resets_and_needs_two_samples() -> None:
    # By hand: 3 5 2 4 at 0,10,20,30s, range [0,30]: 4-3 + 5 (value before the reset) = 6, no
    # extrapolation needed (samples at both ends). One sample -> no output at that step.
    m = mat([({"a": "1"}, [(0, 3), (10, 5), (20, 2), (30, 4)])], 30, [30, 60])
    assert one(call("increase", steps_s(30, 60), m)) == [6.0, None]
    assert one(call("delta", steps_s(30, 60), m)) == [1.0, None]


def test_window_is_closed_on_both_ends() -> None:
    # 2.x windows are [ref - range, ref]: samples at 0s and 60s are both in the 1m window at 60s.
    m = mat([({"a": "1"}, [(0, 0), (60, 6)])], 60, [60])
    assert one(call("count_over_time", Steps.instant(60_000), m)) == [2.0]
    assert one(call("increase", Steps.instant(60_000), m)) == [6.0]


def test_range_result_over_several_steps() -> None:
    # count_over_time over 3 steps: windows [0,20] [10,30] [40,60] hold 3, 2 and 0 samples.
    m = mat([({NAME: "m", "a": "1"}, [(0, 1), (10, 2), (20, 3)])], 20, [20, 30, 60])
    assert rows(call("count_over_time", steps_s(20, 30, 60), m)) == {(("a", "1"),): [3.0, 2.0, None]}
    assert rows(call("last_over_time", steps_s(20, 30, 60), m)) == {((NAME, "m"), ("a", "1")): [3.0, 3.0, None]}


def test_range_function_duplicate_labelsets_fail_even_without_overlap() -> None:
    # 2.42 checks the whole range result (Matrix.ContainsSameLabelset), not each step.
    m = mat([({NAME: "a"}, [(0, 1)]), ({NAME: "b"}, [(100, 1)])], 10, [10, 110])
    with pytest.raises(PromQLError, match="vector cannot contain metrics with the same labelset") as e:
        call("present_over_time", steps_s(10, 110), m)
    assert e.value.error_type == "execution"
    # last_over_time keeps the name, so no clash
    assert len(rows(call("last_over_time", steps_s(10, 110), m))) == 2


def test_irate_and_idelta_use_the_last_two_samples() -> None:
    # irate: 4 -> 1 in 10s is a reset: 1/10 = 0.1; idelta: 1 - 4 = -3.
    m = mat([({"a": "1"}, [(0, 0), (10, 4), (20, 1)])], 60, [20])
    assert one(call("irate", Steps.instant(20_000), m)) == [0.1]
    assert one(call("idelta", Steps.instant(20_000), m)) == [-3.0]


# ---- regression, smoothing ----------------------------------------------------------------------------


def test_deriv_and_predict_linear_by_hand() -> None:
    # y = 2x + 1 sampled at x = 0, 10, 20 s: slope 2; predict_linear(v, 5) at step 20s = y(25) = 51.
    m = mat([({"a": "1"}, [(0, 1), (10, 21), (20, 41)])], 60, [20])
    assert one(call("deriv", Steps.instant(20_000), m)) == [pytest.approx(2.0)]
    assert one(call("predict_linear", Steps.instant(20_000), m, sc(5))) == [pytest.approx(51.0)]


def test_predict_linear_is_relative_to_the_step_time_not_the_offset_window() -> None:
    # 2.42 passes enh.Ts (the step time) as intercept time: with `offset 10s` the window ends at 10s, but
    # the prediction t=0 at step 20s is still y(20) = 41 for y = 2x + 1.
    m = mat([({"a": "1"}, [(0, 1), (10, 21)])], 60, [10])
    assert one(call("predict_linear", Steps.instant(20_000), m, sc(0))) == [pytest.approx(41.0)]


def test_linear_regression_of_a_constant_series() -> None:
    # constY: slope 0 and intercept the value; an infinite constant gives NaN.
    m = mat([({"a": "1"}, [(0, 7), (10, 7)]), ({"a": "2"}, [(0, math.inf), (10, math.inf)])], 60, [10])
    r = rows(call("deriv", Steps.instant(10_000), m))
    assert r[(("a", "1"),)] == [0.0] and math.isnan(r[(("a", "2"),)][0] or 0.0)
    assert rows(call("predict_linear", Steps.instant(10_000), m, sc(100)))[(("a", "1"),)] == [7.0]


def test_holt_winters_by_hand() -> None:
    # sf=0.5, tf=0.5 on 1 3 4: s1=1, b=2; i=1: x=1.5, b=2 (first trend), y=0.5*(1+2)=1.5, s1=3, s0=1;
    # i=2: x=2, b=0.5*(3-1)+0.5*2=2, y=0.5*(3+2)=2.5, s1=4.5.
    m = mat([({"a": "1"}, [(0, 1), (10, 3), (20, 4)])], 60, [20])
    assert one(call("holt_winters", Steps.instant(20_000), m, sc(0.5), sc(0.5))) == [4.5]


@pytest.mark.parametrize(("sf", "tf", "message"), [
    (1.0, 0.5, "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"),
    (0.5, 0.0, "invalid trend factor. Expected: 0 < tf < 1, got: 0.000000"),
])
def test_holt_winters_rejects_factors(sf: float, tf: float, message: str) -> None:
    m = mat([({"a": "1"}, [(0, 1)])], 60, [20])
    with pytest.raises(PromQLError) as e:
        call("holt_winters", Steps.instant(20_000), m, sc(sf), sc(tf))
    assert e.value.message == message and e.value.error_type == "execution"


# ---- *_over_time --------------------------------------------------------------------------------------


def test_over_time_aggregations_by_hand() -> None:
    m = mat([({NAME: "m"}, [(0, 1), (10, 2), (20, 4), (30, 5)])], 60, [30])
    st = Steps.instant(30_000)
    assert one(call("sum_over_time", st, m)) == [12.0]
    assert one(call("avg_over_time", st, m)) == [3.0]
    assert one(call("min_over_time", st, m)) == [1.0]
    assert one(call("max_over_time", st, m)) == [5.0]
    assert one(call("present_over_time", st, m)) == [1.0]
    # variance of 1 2 4 5: mean 3, squared deviations 4 1 1 4 -> 10/4 = 2.5
    assert one(call("stdvar_over_time", st, m)) == [2.5]
    assert one(call("stddev_over_time", st, m)) == [pytest.approx(math.sqrt(2.5))]
    # quantile 0.25 of 1 2 4 5: rank 0.75 -> 1*0.25 + 2*0.75 = 1.75
    assert one(call("quantile_over_time", st, sc(0.25), m)) == [1.75]


def test_quantile_over_time_sorts_nan_first() -> None:
    # 2.42's quantile sorts NaN below everything: [NaN, 1, 2] -> q=1 gives 2, q=0 gives NaN.
    m = mat([({"a": "1"}, [(0, 2), (10, math.nan), (20, 1)])], 60, [20])
    st = Steps.instant(20_000)
    assert one(call("quantile_over_time", st, sc(1), m)) == [2.0]
    assert math.isnan(one(call("quantile_over_time", st, sc(0), m))[0] or 0.0)
    assert math.isnan(one(call("quantile_over_time", st, sc(math.nan), m))[0] or 0.0)


def test_sum_over_time_is_kahan_compensated() -> None:
    # Kahan-Neumaier: 1e100 + 1 - 1e100 = 1 (naive float summation gives 0).
    m = mat([({"a": "1"}, [(0, 1e100), (10, 1.0), (20, -1e100)])], 60, [20])
    assert one(call("sum_over_time", Steps.instant(20_000), m)) == [1.0]


def test_absent_over_time_over_steps_with_matcher_labels() -> None:
    expr = parse('absent_over_time(up{job="a", instance=~"x.*"}[10s])')
    m = mat([({NAME: "up", "job": "a"}, [(0, 1)])], 10, [10, 20, 30])
    out = FUNCTIONS["absent_over_time"](steps_s(10, 20, 30), [m], call_args(expr))
    assert rows(out) == {(("job", "a"),): [None, 1.0, 1.0]}
    assert rows(FUNCTIONS["absent_over_time"](steps_s(10), [mat([], 10, [10])], [parse("rate(x[1m])")])) == {
        (): [1.0]}




@pytest.mark.parametrize("name", ["rate", "increase", "delta"])
def test_vectorized_rate_is_bit_identical_to_the_per_window_algorithm(name: str) -> None:
    # The vectorized path must give exactly what 2.42's extrapolatedRate gives window by window,
    # including windows with counter resets (scalar fallback) and windows with fewer than two samples.
    import numpy as np

    from query.promql.functions_range import extrapolated_rate
    from query.promql.model import Matrix, Series, labels_of

    rnd = np.random.default_rng(3)
    t = np.sort(rnd.choice(np.arange(0, 3_600_000, 1000), 500, replace=False)).astype(np.int64)
    v = np.cumsum(rnd.exponential(3.0, t.size))
    v[200:] -= v[199] * 0.9  # a counter reset
    v[350:] = v[350:] - v[349] + 0.5  # and another
    refs = np.arange(0, 3_600_001, 17_000, dtype=np.int64)
    m = Matrix([Series(labels_of({"__name__": "x"}), t, v)], 300_000, refs)
    got = FUNCTIONS[name](steps_s(*(refs / 1000).tolist()), [m], [None])
    out = rows(got)[labels_of({})]
    counter, per_second = name != "delta", name == "rate"
    for i, ref in enumerate(refs.tolist()):
        k = (t >= ref - 300_000) & (t <= ref)
        want = extrapolated_rate(t[k].tolist(), v[k].tolist(), ref - 300_000, ref, 300.0, counter, per_second)
        assert out[i] == want, (i, out[i], want)
