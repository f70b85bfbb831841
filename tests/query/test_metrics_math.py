"""query.metrics arithmetic: bucket quantiles, histogram bucket bounds, counter increases and resets."""

from __future__ import annotations

import math
from typing import Any

import pytest

from contracts.reader import InMemoryReader
from query.metrics import (
    MetricQuery,
    _Acc,
    _bounds_counts,
    _bucket_quantile,
    _increase,
    _reset,
    query_metric,
)
from query.timerange import NS, TimeRange

INF = math.inf
CUMULATIVE, DELTA = 2, 1


# ------------------------------------------------------------------------------------ _bucket_quantile
def test_quantile_interpolates_linearly_inside_the_bucket() -> None:
    buckets = [((0.0, 1.0), 10.0), ((1.0, 2.0), 10.0), ((2.0, INF), 0.0)]
    # rank = q * 20; bucket (0, 1] holds ranks 0..10, (1, 2] holds 10..20
    assert _bucket_quantile(0.5, buckets) == pytest.approx(1.0)
    assert _bucket_quantile(0.75, buckets) == pytest.approx(1.5)
    assert _bucket_quantile(0.25, buckets) == pytest.approx(0.5)
    assert _bucket_quantile(0.95, buckets) == pytest.approx(1.9)


def test_quantile_prometheus_example() -> None:
    # bounds 0.1, 0.5, 1, +Inf with counts 2, 6, 2, 0 (non-cumulative); total 10
    buckets = [((0.0, 0.1), 2.0), ((0.1, 0.5), 6.0), ((0.5, 1.0), 2.0), ((1.0, INF), 0.0)]
    assert _bucket_quantile(0.5, buckets) == pytest.approx(0.1 + 0.4 * (3 / 6))  # 0.3
    assert _bucket_quantile(0.9, buckets) == pytest.approx(0.5 + 0.5 * (1 / 2))  # 0.75
    assert _bucket_quantile(0.2, buckets) == pytest.approx(0.1)


def test_quantile_skips_empty_buckets() -> None:
    buckets = [((0.0, 1.0), 0.0), ((1.0, 5.0), 0.0), ((5.0, 10.0), 4.0), ((10.0, INF), 0.0)]
    assert _bucket_quantile(0.5, buckets) == pytest.approx(5.0 + 5.0 * 0.5)
    assert _bucket_quantile(0.01, buckets) == pytest.approx(5.0 + 5.0 * 0.01)


def test_quantile_in_the_overflow_bucket_is_the_highest_finite_bound() -> None:
    buckets = [((0.0, 1.0), 1.0), ((1.0, 2.0), 1.0), ((2.0, INF), 8.0)]
    assert _bucket_quantile(0.99, buckets) == 2.0
    assert _bucket_quantile(0.5, buckets) == 2.0


def test_quantile_with_negative_first_bound_returns_its_upper_bound() -> None:
    buckets = [((-INF, -1.0), 4.0), ((-1.0, 0.0), 0.0), ((0.0, INF), 0.0)]
    assert _bucket_quantile(0.5, buckets) == -1.0


def test_quantile_of_empty_histogram_is_none() -> None:
    assert _bucket_quantile(0.5, [((0.0, 1.0), 0.0), ((1.0, INF), 0.0)]) is None
    assert _bucket_quantile(0.5, []) is None


def _explicit(bounds: list[float], counts: list[float]) -> list[tuple[tuple[float, float], float]]:
    lowers = [0.0 if bounds[0] > 0 else -INF, *bounds]
    return list(zip(zip(lowers, [*bounds, INF], strict=True), counts, strict=True))


def test_quantile_is_monotonic_in_q() -> None:
    buckets = _explicit([0.005, 0.01, 0.025, 0.05, 0.1], [3.0, 0.0, 7.0, 1.0, 9.0, 2.0])
    values = [_bucket_quantile(q / 100, buckets) for q in range(1, 100)]
    assert all(v is not None for v in values)
    assert values == sorted(values)  # type: ignore[type-var]


def test_quantile_does_not_depend_on_bucket_order() -> None:
    buckets = _explicit([0.005, 0.01, 0.025, 0.05, 0.1], [3.0, 0.0, 7.0, 1.0, 9.0, 2.0])
    shuffled = buckets[3:] + buckets[:3][::-1]
    for q in (0.01, 0.25, 0.5, 0.9, 0.99):
        assert _bucket_quantile(q, shuffled) == _bucket_quantile(q, buckets)


# -------------------------------------------------------------------------------------- _bounds_counts
def test_bounds_explicit_histogram() -> None:
    row = {"ExplicitBounds": [1.0, 5.0, 10.0], "BucketCounts": [2, 3, 0, 7]}
    assert _bounds_counts("histogram", row) == [((0.0, 1.0), 2), ((1.0, 5.0), 3), ((5.0, 10.0), 0), ((10.0, INF), 7)]


def test_bounds_explicit_histogram_with_non_positive_first_bound_starts_at_minus_infinity() -> None:
    row = {"ExplicitBounds": [-1.0, 0.0, 1.0], "BucketCounts": [1, 2, 3, 4]}
    assert _bounds_counts("histogram", row) == [
        ((-INF, -1.0), 1), ((-1.0, 0.0), 2), ((0.0, 1.0), 3), ((1.0, INF), 4)
    ]


def test_bounds_explicit_histogram_single_bucket() -> None:
    assert _bounds_counts("histogram", {"ExplicitBounds": [], "BucketCounts": [9]}) == [((-INF, INF), 9)]


def _exp_row(scale: int, zero: int = 0, pos_offset: int = 0, pos: tuple[int, ...] = (),
             neg_offset: int = 0, neg: tuple[int, ...] = ()) -> dict[str, Any]:
    return {
        "Scale": scale, "ZeroCount": zero,
        "PositiveOffset": pos_offset, "PositiveBucketCounts": list(pos),
        "NegativeOffset": neg_offset, "NegativeBucketCounts": list(neg),
    }


def _lowers(got: list[tuple[tuple[float, float], int]]) -> list[float]:
    return [lo for (lo, _), _ in got]


def _uppers(got: list[tuple[tuple[float, float], int]]) -> list[float]:
    return [hi for (_, hi), _ in got]


def _counts(got: list[tuple[tuple[float, float], int]]) -> list[int]:
    return [c for _, c in got]


def test_bounds_exponential_scale_0() -> None:
    # base 2: positive bucket at index i covers (2**i, 2**(i+1)]
    got = _bounds_counts("exponential_histogram", _exp_row(0, zero=1, pos_offset=1, pos=(0, 2)))
    assert got == [((0.0, 0.0), 1), ((2.0, 4.0), 0), ((4.0, 8.0), 2)]


def test_bounds_exponential_scale_1() -> None:
    # base sqrt(2): index -1 → (2**-0.5, 1], index 0 → (1, 2**0.5], index 1 → (2**0.5, 2]
    got = _bounds_counts("exponential_histogram", _exp_row(1, pos_offset=-1, pos=(1, 2, 3)))
    assert _counts(got) == [0, 1, 2, 3]
    assert _lowers(got) == pytest.approx([0.0, 2**-0.5, 1.0, math.sqrt(2)])
    assert _uppers(got) == pytest.approx([0.0, 1.0, math.sqrt(2), 2.0])


def test_bounds_exponential_negative_scale() -> None:
    # scale -1: base 4; index 0 → (1, 4], index 1 → (4, 16]
    got = _bounds_counts("exponential_histogram", _exp_row(-1, pos=(5, 6)))
    assert got == [((0.0, 0.0), 0), ((1.0, 4.0), 5), ((4.0, 16.0), 6)]


def test_bounds_exponential_negative_buckets_ascending() -> None:
    # negative index j covers [-2**(j+1), -2**j); most negative first
    got = _bounds_counts(
        "exponential_histogram", _exp_row(0, zero=2, pos_offset=0, pos=(1,), neg_offset=1, neg=(3, 4))
    )
    assert got == [((-8.0, -4.0), 4), ((-4.0, -2.0), 3), ((0.0, 0.0), 2), ((1.0, 2.0), 1)]
    assert _lowers(got) == sorted(_lowers(got))
    assert _uppers(got) == sorted(_uppers(got))
    assert all(hi <= next_lo for hi, next_lo in zip(_uppers(got), _lowers(got)[1:], strict=False))


def test_bounds_exponential_negative_scale_1() -> None:
    # base sqrt(2): negative index 0 → [-√2, -1), index 1 → [-2, -√2)
    got = _bounds_counts("exponential_histogram", _exp_row(1, neg_offset=0, neg=(1, 1)))
    assert _lowers(got) == pytest.approx([-2.0, -math.sqrt(2), 0.0])
    assert _uppers(got) == pytest.approx([-math.sqrt(2), -1.0, 0.0])
    assert _counts(got) == [1, 1, 0]


def test_bounds_exponential_downscale_merges_buckets() -> None:
    # scale 2 → 0 (shift 2): indices 4k..4k+3 merge into index k, also below zero (-4..-1 → -1, -3 >> 2 == -1)
    row = _exp_row(2, zero=5, pos_offset=-4, pos=(1, 2, 3, 4, 5, 6, 7, 8), neg_offset=-3, neg=(1, 1, 1, 1, 1))
    got = _bounds_counts("exponential_histogram", row, target_scale=0)
    assert got == [
        ((-2.0, -1.0), 2),  # negative indices 0, 1
        ((-1.0, -0.5), 3),  # negative indices -3, -2, -1
        ((0.0, 0.0), 5),
        ((0.5, 1.0), 10),  # positive indices -4..-1: 1 + 2 + 3 + 4
        ((1.0, 2.0), 26),  # positive indices 0..3: 5 + 6 + 7 + 8
    ]
    assert sum(_counts(got)) == 5 + sum(range(1, 9)) + 5


def test_bounds_exponential_downscale_by_one_with_unaligned_offset() -> None:
    # scale 1 → 0: index -3 → -2, indices -2, -1 → -1, indices 0, 1 → 0
    got = _bounds_counts("exponential_histogram", _exp_row(1, pos_offset=-3, pos=(1, 2, 3, 4, 5)), target_scale=0)
    assert got == [((0.0, 0.0), 0), ((0.25, 0.5), 1), ((0.5, 1.0), 5), ((1.0, 2.0), 9)]


def test_bounds_exponential_target_scale_never_upscales() -> None:
    row = _exp_row(0, zero=1, pos_offset=1, pos=(0, 2), neg_offset=0, neg=(3,))
    expected = _bounds_counts("exponential_histogram", row)
    assert _bounds_counts("exponential_histogram", row, target_scale=0) == expected
    assert _bounds_counts("exponential_histogram", row, target_scale=3) == expected


def _as_float(pairs: list[tuple[tuple[float, float], int]]) -> list[tuple[tuple[float, float], float]]:
    return [(b, float(c)) for b, c in pairs]


def test_quantile_of_official_exponential_example() -> None:
    # count 3: one zero, two in (4, 8] → median rank 1.5 lies a quarter into (4, 8]
    buckets = _as_float(_bounds_counts("exponential_histogram", _exp_row(0, zero=1, pos_offset=1, pos=(0, 2))))
    assert _bucket_quantile(0.5, buckets) == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("row", "q", "low", "high"),
    [
        # all 4 observations are in (4, 8]: every quantile must lie in that bucket
        (_exp_row(0, pos_offset=2, pos=(4,)), 0.25, 4.0, 8.0),
        (_exp_row(0, pos_offset=2, pos=(4,)), 0.5, 4.0, 8.0),
        # one observation in [-2, -1), one exactly zero: the upper half of the ranks is 0
        (_exp_row(0, zero=1, neg_offset=0, neg=(1,)), 0.75, 0.0, 0.0),
    ],
    ids=["positive-offset-p25", "positive-offset-p50", "zero-bucket-after-negative-p75"],
)
def test_exponential_quantile_stays_inside_the_bucket_holding_the_rank(
    row: dict[str, Any], q: float, low: float, high: float
) -> None:
    value = _bucket_quantile(q, _as_float(_bounds_counts("exponential_histogram", row)))
    assert value is not None
    assert low <= value <= high, f"p{int(q * 100)} = {value}, outside [{low}, {high}]"


# ----------------------------------------------------------------------------------- _increase / reset
def _pt(value: float, start_ns: int = 100, temporality: int = CUMULATIVE) -> dict[str, Any]:
    return {"Value": value, "start_ns": start_ns, "temporality": temporality}


def test_increase_cumulative() -> None:
    assert _increase(_pt(15), _pt(10), "Value") == 5.0
    assert _increase(_pt(10), _pt(10), "Value") == 0.0


def test_increase_first_cumulative_point_is_zero() -> None:
    assert _increase(_pt(42), None, "Value") == 0.0


def test_increase_counter_reset_by_lower_value() -> None:
    assert _increase(_pt(3), _pt(10), "Value") == 3.0


def test_increase_counter_reset_by_new_start_time() -> None:
    assert _increase(_pt(25, start_ns=200), _pt(10, start_ns=100), "Value") == 25.0
    assert _reset(_pt(25, start_ns=200), _pt(10, start_ns=100), "Value")


def test_increase_unknown_start_time_is_not_a_reset() -> None:
    assert not _reset(_pt(25, start_ns=0), _pt(10, start_ns=100), "Value")
    assert _increase(_pt(25, start_ns=0), _pt(10, start_ns=100), "Value") == 15.0


def test_increase_delta_points_are_increases_already() -> None:
    assert _increase(_pt(7, temporality=DELTA), None, "Value") == 7.0
    assert _increase(_pt(7, temporality=DELTA), _pt(100, temporality=DELTA), "Value") == 7.0


# --------------------------------------------------------------------------------------------- _Acc
def test_acc_value_aggregations() -> None:
    a = _Acc()
    for v in (1.0, 2.0, 6.0):
        a.add_value(v)
    assert [a.result(agg, 60) for agg in ("sum", "avg", "min", "max", "count")] == [9.0, 3.0, 1.0, 6.0, 3.0]
    assert a.result("rate", 60) == pytest.approx(9.0 / 60)
    assert a.result("p50", 60) is None


def test_acc_histogram_aggregations() -> None:
    a = _Acc()
    a.add_hist([((0.0, 1.0), 1), ((1.0, 2.0), 1), ((2.0, INF), 0)], 2, 3.0)
    a.add_hist([((0.0, 1.0), 3), ((1.0, 2.0), 5), ((2.0, INF), 0)], 8, 11.0)
    assert a.result("count", 10) == 10
    assert a.result("sum", 10) == 14.0
    assert a.result("avg", 10) == pytest.approx(1.4)
    assert a.result("rate", 10) == pytest.approx(1.0)
    assert a.result("p50", 10) == pytest.approx(1.0 + (5 - 4) / 6)  # rank 5 in merged [((0,1),4),((1,2),6)]


def test_acc_summary_picks_reported_quantile() -> None:
    a = _Acc()
    a.add_summary({"Count": 10, "Sum": 50.0, "qs": [0.5, 0.99], "qv": [4.0, 9.0]})
    a.add_summary({"Count": 10, "Sum": 70.0, "qs": [0.5, 0.99], "qv": [6.0, 11.0]})
    assert a.result("p50", 60) == pytest.approx(5.0)
    assert a.result("p99", 60) == pytest.approx(10.0)
    assert a.result("p90", 60) is None
    assert a.result("avg", 60) == pytest.approx(6.0)


# ------------------------------------------------------------------- query_metric over a canned reader
def CannedReader(kind: str, rows: list[dict[str, Any]]) -> InMemoryReader:  # noqa: N802 - reads like a class
    """Answers the kind probe with ``kind`` and every other query with ``rows``."""
    return InMemoryReader(rows, answers={"AS kind": [{"kind": kind, "n": 1}]})


def _sum_row(t_s: int, value: float, start_ns: int = 1) -> dict[str, Any]:
    return {"labels": [], "sid": 7, "start_ns": start_ns, "ts": t_s * NS, "Value": value, "temporality": CUMULATIVE}


def test_rate_of_cumulative_counter_across_a_reset() -> None:
    rows = [_sum_row(0, 10), _sum_row(60, 40), _sum_row(120, 5), _sum_row(180, 25)]
    out = query_metric(CannedReader("sum", rows), MetricQuery("reqs", agg="rate", step="60s"),
                       TimeRange(0, 240 * NS))
    assert out.type == "sum"
    [series] = out.series
    assert series.labels == {}
    assert series.points == [[0, 0.0], [60, pytest.approx(0.5)], [120, pytest.approx(5 / 60)],
                                [180, pytest.approx(20 / 60)]]


def _hist_row(t_s: int, counts: list[int], total: float, start_ns: int = 1) -> dict[str, Any]:
    return {"labels": ["a"], "sid": 1, "start_ns": start_ns, "ts": t_s * NS, "Count": sum(counts), "Sum": total,
            "BucketCounts": counts, "ExplicitBounds": [1.0, 2.0], "temporality": CUMULATIVE}


def test_cumulative_histogram_quantile_uses_bucket_increases() -> None:
    rows = [
        _hist_row(0, [100, 0, 0], 50.0),  # first point: no increase known
        _hist_row(60, [100, 10, 0], 65.0),  # +10 in (1, 2]
        _hist_row(120, [2, 0, 0], 1.0),  # reset: the point itself is the increase
    ]
    out = query_metric(CannedReader("histogram", rows), MetricQuery("lat", agg="p50", group_by=("k",)),
                       TimeRange(0, 180 * NS))
    [series] = out.series
    assert series.labels == {"k": "a"}
    assert series.points == [[60, pytest.approx(1.5)], [120, pytest.approx(0.5)]]


def _exp_hist_row(t_s: int, scale: int, offset: int, counts: list[int]) -> dict[str, Any]:
    return {"labels": [], "sid": 3, "start_ns": 1, "ts": t_s * NS, "Count": sum(counts), "Sum": 3.0,
            **_exp_row(scale, pos_offset=offset, pos=tuple(counts)), "temporality": CUMULATIVE}


def test_cumulative_exponential_histogram_downscale_is_not_a_phantom_increase() -> None:
    """SDKs lower the scale of a cumulative exponential histogram as its range grows. The same two
    observations re-bucketed from scale 1 ((1, √2] and (√2, 2]) into scale 0 ((1, 2]) are no increase."""
    rows = [
        _exp_hist_row(0, scale=1, offset=0, counts=[1, 1]),
        _exp_hist_row(60, scale=0, offset=0, counts=[2]),
    ]
    out = query_metric(CannedReader("exponential_histogram", rows), MetricQuery("lat", agg="p50"),
                       TimeRange(0, 120 * NS))
    points = [p for s in out.series for p in s.points]
    assert points == [], f"no observation was added, yet p50 = {points}"


def test_cumulative_exponential_histogram_downscale_keeps_a_real_increase() -> None:
    """Scale 1 → 0 with one new observation in (1, 2]: the increase is exactly that one observation."""
    rows = [
        _exp_hist_row(0, scale=1, offset=0, counts=[1, 1]),
        _exp_hist_row(60, scale=0, offset=0, counts=[3]),
    ]
    out = query_metric(CannedReader("exponential_histogram", rows), MetricQuery("lat", agg="p50"),
                       TimeRange(0, 120 * NS))
    [series] = out.series
    assert series.points == [[60, pytest.approx(1.5)]]
