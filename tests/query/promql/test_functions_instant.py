"""query.promql.functions*: element-wise, time, label and histogram functions on hand-built values.

Expected values come from Prometheus' documentation or are worked by hand from the 2.42 algorithms,
as each test's comments say.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from query.promql.functions import FUNCTIONS
from query.promql.model import NAME, PromQLError, Scalar, Steps, String, Vector, VSeries, labels_of
from query.promql.parse import parse
from tests.query.promql.fn_helpers import call, call_args, one, rows, sc, steps_s, vs

# ---- element-wise and scalar functions ----------------------------------------------------------------


@pytest.mark.parametrize(("name", "f"), [
    ("abs", abs), ("ceil", math.ceil), ("floor", math.floor), ("exp", math.exp), ("sqrt", math.sqrt),
    ("ln", math.log), ("log2", math.log2), ("log10", math.log10), ("sin", math.sin), ("cos", math.cos),
    ("tan", math.tan), ("asin", math.asin), ("acos", math.acos), ("atan", math.atan), ("sinh", math.sinh),
    ("cosh", math.cosh), ("tanh", math.tanh), ("asinh", math.asinh), ("atanh", math.atanh),
    ("deg", lambda x: x * 180 / math.pi), ("rad", lambda x: x * math.pi / 180),
])
def test_elementwise_functions_drop_the_name(name: str, f: Any) -> None:
    v = Vector([vs({NAME: "m", "a": "1"}, [0.5, None, 0.25])])
    r = rows(call(name, steps_s(0, 1, 2), v))
    assert list(r) == [(("a", "1"),)]
    got = r[(("a", "1"),)]
    assert got[1] is None and got[0] == pytest.approx(f(0.5)) and got[2] == pytest.approx(f(0.25))


def test_math_domain_errors_are_nan_or_inf() -> None:
    v = Vector([vs({"a": "1"}, [-1.0]), vs({"a": "2"}, [0.0]), vs({"a": "3"}, [1.0])])
    st = Steps.instant(0)
    r = rows(call("sqrt", st, v))
    assert math.isnan(r[(("a", "1"),)][0] or 0.0)
    assert rows(call("ln", st, v))[(("a", "2"),)] == [-math.inf]
    assert rows(call("acosh", st, v))[(("a", "3"),)] == [0.0]
    assert rows(call("atanh", st, v))[(("a", "3"),)] == [math.inf]


def test_elementwise_merges_series_with_equal_labels_at_different_steps() -> None:
    # 2.42's rangeEval merges outputs by label set; a clash at one step is an error.
    v = Vector([vs({NAME: "a", "j": "1"}, [1.0, None]), vs({NAME: "b", "j": "1"}, [None, -2.0])])
    assert rows(call("abs", steps_s(0, 1), v)) == {(("j", "1"),): [1.0, 2.0]}
    clash = Vector([vs({NAME: "a", "j": "1"}, [1.0, None]), vs({NAME: "b", "j": "1"}, [2.0, None])])
    with pytest.raises(PromQLError, match="same labelset"):
        call("abs", steps_s(0, 1), clash)


def test_round() -> None:
    # 2.42: floor(v * (1/to) + 0.5) / (1/to): ties go up, also for negatives.
    v = Vector([vs({"a": "1"}, [2.5]), vs({"a": "2"}, [-2.5]), vs({"a": "3"}, [1.234])])
    st = Steps.instant(0)
    r = rows(call("round", st, v))
    assert [r[(("a", x),)][0] for x in "123"] == [3.0, -2.0, 1.0]
    r = rows(call("round", st, v, sc(0.1)))
    assert r[(("a", "3"),)] == [1.2]
    r = rows(call("round", st, v, sc(5)))
    assert r[(("a", "2"),)] == [-0.0]


def test_clamp_is_empty_where_max_below_min() -> None:
    v = Vector([vs({NAME: "m"}, [3.0, 3.0])])
    assert one(call("clamp", steps_s(0, 1), v, sc(0, 5), sc(1, 4))) == [1.0, None]


def test_sgn_keeps_zero_sign_and_nan() -> None:
    v = Vector([vs({"a": "1"}, [-0.0])])
    out = one(call("sgn", Steps.instant(0), v))[0]
    assert out is not None and out == 0 and math.copysign(1, out) == -1


def test_scalar_vector_time_pi() -> None:
    v = Vector([vs({"a": "1"}, [1.0, 2.0, None]), vs({"a": "2"}, [None, 5.0, None])])
    got = call("scalar", steps_s(0, 1, 2), v)
    assert isinstance(got, Scalar)
    assert got.values[0] == 1.0 and math.isnan(got.values[1]) and math.isnan(got.values[2])
    assert rows(call("vector", steps_s(0, 1), sc(3, 4))) == {(): [3.0, 4.0]}
    t = call("time", steps_s(0.001, 60))
    assert isinstance(t, Scalar) and t.values.tolist() == [0.001, 60.0]
    p = call("pi", steps_s(0))
    assert isinstance(p, Scalar) and p.values.tolist() == [math.pi]


def test_sort_orders_by_first_step_nan_last_and_keeps_names() -> None:
    v = Vector([vs({NAME: "m", "i": "0"}, [math.nan]), vs({NAME: "m", "i": "1"}, [2.0]),
                vs({NAME: "m", "i": "2"}, [1.0]), vs({NAME: "m", "i": "3"}, [3.0])])
    asc = call("sort", Steps.instant(0), v)
    desc = call("sort_desc", Steps.instant(0), v)
    assert isinstance(asc, Vector) and isinstance(desc, Vector)
    assert [dict(s.labels)["i"] for s in asc.series] == ["2", "1", "3", "0"]
    assert [dict(s.labels)["i"] for s in desc.series] == ["3", "1", "2", "0"]
    assert all(dict(s.labels)[NAME] == "m" for s in asc.series)


def test_absent_labels_and_steps() -> None:
    expr = parse('absent(nonexistent{job="a", job="b", env="p", x!="y", inst=~"z"})')
    v = Vector([vs({"env": "p"}, [1.0, None])])
    assert rows(FUNCTIONS["absent"](steps_s(0, 1), [v], call_args(expr))) == {(("env", "p"),): [None, 1.0]}
    # parentheses are unwrapped (2.42 unwraps call arguments), other expressions give no labels
    expr = parse('absent((x{a="b"}))')
    assert rows(FUNCTIONS["absent"](steps_s(0), [Vector([])], call_args(expr))) == {(("a", "b"),): [1.0]}
    assert call("absent", steps_s(0), Vector([vs({}, [1.0])])) == Vector([])


# ---- time functions -----------------------------------------------------------------------------------


def test_timestamp_uses_sample_time_for_selectors_and_step_time_otherwise() -> None:
    s = vs({NAME: "m"}, [1.0, 1.0])
    assert one(call("timestamp", steps_s(10, 20), Vector([s]))) == [10.0, 20.0]
    s.sample_t = np.array([5_000, 15_500], dtype=np.int64)
    assert rows(call("timestamp", steps_s(10, 20), Vector([s]))) == {(): [5.0, 15.5]}


@pytest.mark.parametrize(("name", "t", "want"), [
    # 2006-01-02T22:04:05Z (Go's reference time) and hand-checked calendar facts
    ("year", 1136239445, 2006), ("month", 1136239445, 1), ("day_of_month", 1136239445, 2),
    ("day_of_year", 1136239445, 2), ("day_of_week", 1136239445, 1), ("hour", 1136239445, 22),
    ("minute", 1136239445, 4), ("days_in_month", 1136239445, 31),
    ("days_in_month", 951782400, 29),  # 2000-02-29: 2000 is a leap year
    ("days_in_month", 4105123200, 28),  # 2100-02-01: 2100 is not a leap year
    ("year", -1, 1969), ("month", -1, 12), ("day_of_month", -1, 31), ("hour", -1, 23), ("minute", -1, 59),
    ("day_of_week", -86400, 3),  # 1969-12-31 was a Wednesday
    ("day_of_year", 1483191420, 366), ("minute", 59.9, 0), ("hour", -0.5, 0),  # Go truncates toward zero
])
def test_date_functions(name: str, t: float, want: float) -> None:
    v = Vector([vs({NAME: "m", "a": "1"}, [t])])
    assert rows(call(name, Steps.instant(0), v)) == {(("a", "1"),): [float(want)]}


def test_date_functions_without_argument_use_the_step_time() -> None:
    # 1970-01-01 is a Thursday (4); 1970-02-01 is in a 28-day February.
    st = steps_s(0, 31 * 86400)
    assert rows(call("day_of_week", st)) == {(): [4.0, 0.0]}
    assert rows(call("days_in_month", st)) == {(): [31.0, 28.0]}
    assert rows(call("month", st)) == {(): [1.0, 2.0]}


@pytest.mark.parametrize(("name", "want"), [
    ("year", 292277026596), ("month", 12), ("day_of_month", 4), ("hour", 15), ("minute", 30)])
def test_date_functions_of_nan_follow_go_amd64(name: str, want: float) -> None:
    # int64(NaN), int64(Inf) and int64(1e300) are -2**63 on amd64, and Go's wrapping calendar arithmetic
    # makes time.Unix(math.MinInt64, 0).UTC() the well-known 292277026596-12-04 15:30:08 UTC.
    v = Vector([vs({"a": str(i)}, [x]) for i, x in enumerate([math.nan, math.inf, 1e300])])
    assert set(map(tuple, rows(call(name, Steps.instant(0), v)).values())) == {(float(want),)}


# ---- label functions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("repl", "regex", "want"), [
    ("$1-$2", "(a+)(b+)", "aa-bb"),
    ("${1}x", "(a+)(b+)", "aax"),
    ("$1x", "(a+)(b+)", ""),  # Go reads the name "1x": no such group -> empty -> label removed
    ("$name!", "(?P<name>a+)b+", "aa!"),
    ("$$1", "(a+)b+", "$1"),
    ("${1", "(a+)b+", "${1"),  # malformed reference: kept literally
    ("$3", "(a+)(b+)", ""),
])
def test_label_replace_expansion(repl: str, regex: str, want: str) -> None:
    v = Vector([vs({NAME: "m", "src": "aabb"}, [1.0])])
    out = rows(call("label_replace", Steps.instant(0), v, String("dst"), String(repl), String("src"),
                    String(regex)))
    expected = {NAME: "m", "src": "aabb", "dst": want}
    assert out == {labels_of(expected): [1.0]}


def test_label_replace_errors() -> None:
    empty = Vector([])
    st = Steps.instant(0)
    with pytest.raises(PromQLError) as e:
        call("label_replace", st, empty, String("dst"), String(""), String("src"), String("(.*"))
    assert e.value.message == "invalid regular expression in label_replace(): (.*"
    with pytest.raises(PromQLError) as e:
        call("label_replace", st, empty, String("1dst"), String(""), String("src"), String(".*"))
    assert e.value.message == "invalid destination label name in label_replace(): 1dst"


def test_label_replace_duplicate_at_one_step() -> None:
    v = Vector([vs({NAME: "m", "a": "1"}, [1.0, None]), vs({NAME: "m", "a": "2"}, [None, 2.0])])
    out = call("label_replace", steps_s(0, 1), v, String("a"), String(""), String("a"), String(".*"))
    assert rows(out) == {((NAME, "m"),): [1.0, 2.0]}  # disjoint in time: merged, as rangeEval does
    v.series[1].present[0] = True
    with pytest.raises(PromQLError, match="same labelset"):
        call("label_replace", steps_s(0, 1), v, String("a"), String(""), String("a"), String(".*"))


def test_label_join_errors() -> None:
    st = Steps.instant(0)
    with pytest.raises(PromQLError) as e:
        call("label_join", st, Vector([]), String("dst"), String("-"), String("ok"), String("b-ad"))
    assert e.value.message == "invalid source label name in label_join(): b-ad"
    with pytest.raises(PromQLError) as e:
        call("label_join", st, Vector([]), String("d-st"), String("-"), String("ok"))
    assert e.value.message == "invalid destination label name in label_join(): d-st"


# ---- histogram_quantile -------------------------------------------------------------------------------


def _buckets(name: str, extra: dict[str, str], counts: dict[str, float]) -> list[VSeries]:
    return [vs({NAME: name, "le": le, **extra}, [c]) for le, c in counts.items()]


def test_histogram_quantile_interpolates_within_the_bucket() -> None:
    # By hand: buckets 0.1:10 0.5:30 1:40 +Inf:40; q=0.5 -> rank 20 in (0.1, 0.5] holding 20 with 10
    # below: 0.1 + 0.4 * (10/20) = 0.3. q=0.1 -> rank 4 in the first bucket from 0: 0.1 * 4/10 = 0.04.
    # q=1 -> rank 40, first bucket reaching 40 is le=1 -> 0.5 + 0.5 * 10/10 = 1.
    v = Vector(_buckets("h_bucket", {"job": "x"}, {"0.1": 10, "5e-1": 30, "1": 40, "+Inf": 40}))
    for q, want in [(0.5, 0.3), (0.1, 0.04), (1.0, 1.0)]:
        assert rows(call("histogram_quantile", Steps.instant(0), sc(q), v)) == {(("job", "x"),): [
            pytest.approx(want)]}


def test_histogram_quantile_special_cases() -> None:
    st = Steps.instant(0)
    no_inf = Vector(_buckets("h", {}, {"1": 1, "2": 2}))
    assert math.isnan(one(call("histogram_quantile", st, sc(0.5), no_inf))[0] or 0.0)
    # rank in the +Inf bucket -> the second highest bound
    top = Vector(_buckets("h", {}, {"1": 1, "2": 2, "+Inf": 10}))
    assert one(call("histogram_quantile", st, sc(0.9), top)) == [2.0]
    # non-monotonic counts are raised to the running maximum: 1:5 2:3 +Inf:5 -> q=0.5 rank 2.5 -> 0.5
    mono = Vector(_buckets("h", {}, {"1": 5, "2": 3, "+Inf": 5}))
    assert one(call("histogram_quantile", st, sc(0.5), mono)) == [0.5]
    # unparsable or out-of-range le are ignored; no observations -> NaN
    junk = Vector(_buckets("h", {}, {"x": 1, "1e999": 1, "1": 0, "+Inf": 0}))
    assert math.isnan(one(call("histogram_quantile", st, sc(0.5), junk))[0] or 0.0)
    assert one(call("histogram_quantile", st, sc(-1), top)) == [-math.inf]
    assert one(call("histogram_quantile", st, sc(2), top)) == [math.inf]


def test_histogram_quantile_groups_by_name_and_fails_on_clash() -> None:
    # Grouping keeps __name__ (BytesWithoutLabels(le)); the output drops it, so two names clash.
    v = Vector(_buckets("a_bucket", {}, {"1": 1, "+Inf": 1}) + _buckets("b_bucket", {}, {"1": 1, "+Inf": 1}))
    with pytest.raises(PromQLError, match="same labelset"):
        call("histogram_quantile", Steps.instant(0), sc(0.5), v)
