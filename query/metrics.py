"""Metric catalogue and time-series queries over the ``otel_metrics_*`` tables.

``query_metric`` returns series (``labels``, ``points`` as ``[unix_seconds, value]``) with points
aligned to ``step`` buckets. Semantics:

* gauge / sum: ``avg|sum|min|max|count|p50..p99`` aggregate raw values per bucket and label group.
* ``rate`` (sums and histogram counts): per-second increase, computed per series from consecutive
  points; a value lower than its predecessor (or a new start time) is a counter reset, where the new
  value itself is the increase. Delta-temporality points are increases already.
* histogram / exponential histogram: ``p50..p99`` interpolate inside the merged bucket increases of
  the bucket's points (cumulative points are differenced per series first, like Prometheus'
  ``histogram_quantile(rate(...))``); ``avg`` = Σsum/Σcount, ``sum``/``count`` of increases.
* summary: ``pNN`` picks the reported quantile (averaged over points), ``avg`` = Σsum/Σcount.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from contracts.otel_columns import Metrics as M
from contracts.otel_columns import nested
from contracts.reader import TelemetryReader
from query.errors import BadRequest, NotFound
from query.filters import attr_conditions, metrics_time, parse_attrs
from query.models import Agg, MetricInfo, MetricKind, MetricList, MetricSeries, Series
from query.timerange import NS, TimeRange, parse_duration

KINDS: tuple[str, ...] = M.KINDS
PERCENTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
AGGS = tuple(a.value for a in Agg)
MAX_POINTS_FETCHED = 500_000
MAX_BUCKETS = 11_000
ATTR_MAPS = (M.ATTRIBUTES, M.RESOURCE_ATTRIBUTES)


def metric_names(reader: TelemetryReader, tr: TimeRange) -> MetricList:
    """Every metric with points in ``tr``: name, kind, unit, description, services."""
    union = " UNION ALL ".join(
        f"""SELECT {M.METRIC_NAME} AS name, '{k}' AS type, any({M.METRIC_UNIT}) AS unit,
                   any({M.METRIC_DESCRIPTION}) AS description,
                   arraySort(groupUniqArray({M.SERVICE_NAME})) AS services
            FROM {M.table(k)} WHERE {metrics_time()} GROUP BY {M.METRIC_NAME}"""
        for k in KINDS
    )
    rows = reader.rows(f"SELECT * FROM ({union}) ORDER BY name, type", dict(tr.params))
    return MetricList(metrics=[
        MetricInfo(name=r["name"], type=MetricKind(r["type"]), unit=r["unit"], description=r["description"],
                   service_names=list(r["services"]))
        for r in rows
    ])


@dataclass(frozen=True)
class MetricQuery:
    """The parameters of ``/api/metrics/query``."""

    name: str
    service: str | None = None
    attrs: tuple[str, ...] = ()
    agg: str = "avg"
    group_by: tuple[str, ...] = ()
    step: str = "60s"


def _label_exprs(group_by: tuple[str, ...], params: dict[str, Any]) -> str:
    """SQL array of label values, one per ``group_by`` key (point attrs, then resource attrs)."""
    exprs = []
    for i, key in enumerate(group_by):
        if key == "service.name":
            exprs.append(f"toString({M.SERVICE_NAME})")
            continue
        params[f"g{i}"] = key
        exprs.append(
            f"if(mapContains({M.ATTRIBUTES}, {{g{i}:String}}), {M.ATTRIBUTES}[{{g{i}:String}}], "
            f"{M.RESOURCE_ATTRIBUTES}[{{g{i}:String}}])"
        )
    return f"[{', '.join(exprs)}]" if exprs else "CAST([], 'Array(String)')"


def kind_of(reader: TelemetryReader, name: str, tr: TimeRange) -> MetricKind:
    """The kind of metric ``name`` in ``tr`` (the first in :data:`KINDS` order); :class:`NotFound` if none."""
    union = " UNION ALL ".join(
        f"SELECT '{k}' AS kind, count() AS n FROM {M.table(k)} "
        f"WHERE {M.METRIC_NAME} = {{name:String}} AND {metrics_time()}"
        for k in KINDS
    )
    found = [r["kind"] for r in reader.rows(union, {"name": name, **tr.params}) if r["n"]]
    if not found:
        raise NotFound(f"no data for metric {name!r} in the time range")
    return MetricKind(sorted(found, key=KINDS.index)[0])


_kind_of = kind_of


def _step_seconds(text: str) -> int:
    ms = parse_duration(text, "step")
    if ms % 1000:
        raise BadRequest(f"{text[:40]!r} must be a whole number of seconds", "step")
    return ms // 1000


def query_metric(reader: TelemetryReader, q: MetricQuery, tr: TimeRange) -> MetricSeries:
    """Aggregated series of one metric (see the module docstring for the semantics)."""
    if q.agg not in AGGS:
        raise BadRequest(f"must be one of {', '.join(AGGS)}", "agg")
    step = _step_seconds(q.step)
    if (tr.end_ns - tr.start_ns) // (step * NS) > MAX_BUCKETS:
        raise BadRequest(f"{q.step} gives more than {MAX_BUCKETS} points; use a larger step", "step")
    kind = kind_of(reader, q.name, tr)
    params: dict[str, Any] = {"name": q.name, "step": step, **tr.params}
    conds = [f"{M.METRIC_NAME} = {{name:String}}", metrics_time()]
    if q.service:
        conds.append(f"{M.SERVICE_NAME} = {{service:String}}")
        params["service"] = q.service
    conds += attr_conditions(parse_attrs(list(q.attrs)), ATTR_MAPS, params)
    labels = _label_exprs(q.group_by, params)
    where = " AND ".join(conds)
    if kind in ("gauge", "sum") and q.agg != "rate":
        series = _simple(reader, kind, q.agg, labels, where, params)
    else:
        series = _per_series(reader, kind, q.agg, labels, where, params, step, tr.start_ns)
    return MetricSeries(name=q.name, type=kind, series=[
        Series(labels=dict(zip(q.group_by, key, strict=True)), points=points)
        for key, points in sorted(series.items())
    ])


def _simple(
    reader: TelemetryReader, kind: str, agg: str, labels: str, where: str, params: dict[str, Any]
) -> dict[tuple[str, ...], list[list[float]]]:
    v = M.VALUE
    fn = {"avg": f"avg({v})", "sum": f"sum({v})", "min": f"min({v})", "max": f"max({v})", "count": "count()"}
    expr = fn.get(agg) or f"quantile({PERCENTILES[agg]})({v})"
    rows = reader.rows(
        f"""SELECT {labels} AS labels,
                   intDiv(toUnixTimestamp({M.TIME_UNIX}), {{step:UInt32}}) * {{step:UInt32}} AS t,
                   {expr} AS v
            FROM {M.table(kind)} WHERE {where}
            GROUP BY labels, t ORDER BY labels, t""",
        params,
    )
    out: dict[tuple[str, ...], list[list[float]]] = defaultdict(list)
    for r in rows:
        out[tuple(r["labels"])].append([int(r["t"]), float(r["v"])])
    return out


_TEMPORALITY = f"{M.AGGREGATION_TEMPORALITY} AS temporality"
_QUANTILES = (f"{nested(M.VALUE_AT_QUANTILES, M.QUANTILE)} AS qs, "
              f"{nested(M.VALUE_AT_QUANTILES, M.VALUE)} AS qv")
_FETCH = {
    "gauge": f"{M.VALUE}, 0 AS temporality",
    "sum": f"{M.VALUE}, {_TEMPORALITY}",
    "histogram": f"{M.COUNT}, {M.SUM}, {M.BUCKET_COUNTS}, {M.EXPLICIT_BOUNDS}, {_TEMPORALITY}",
    "exponential_histogram": f"{M.COUNT}, {M.SUM}, {M.SCALE}, {M.ZERO_COUNT}, {M.POSITIVE_OFFSET}, "
    f"{M.POSITIVE_BUCKET_COUNTS}, {M.NEGATIVE_OFFSET}, {M.NEGATIVE_BUCKET_COUNTS}, {_TEMPORALITY}",
    "summary": f"{M.COUNT}, {M.SUM}, {_QUANTILES}, 0 AS temporality",
}


def _per_series(
    reader: TelemetryReader,
    kind: str,
    agg: str,
    labels: str,
    where: str,
    params: dict[str, Any],
    step: int,
    window_start_ns: int,
) -> dict[tuple[str, ...], list[list[float]]]:
    """Per-series increases.

    A cumulative series' first point in the window counts in full only when the series started inside
    the window (its whole value is then an increase); otherwise it only anchors the differences of the
    points after it.
    """
    rows = reader.rows(
        f"""SELECT {labels} AS labels, cityHash64({M.ATTRIBUTES}, {M.RESOURCE_ATTRIBUTES}, {M.SCOPE_NAME}) AS sid,
                   toUnixTimestamp64Nano({M.START_TIME_UNIX}) AS start_ns,
                   toUnixTimestamp64Nano({M.TIME_UNIX}) AS ts,
                   {_FETCH[kind]}
            FROM {M.table(kind)} WHERE {where}
            ORDER BY sid, {M.TIME_UNIX} LIMIT {MAX_POINTS_FETCHED + 1}""",
        params,
    )
    if len(rows) > MAX_POINTS_FETCHED:
        raise BadRequest("too many points for this query; narrow the time range or add filters")
    scales = [int(r[M.SCALE]) for r in rows] if kind == "exponential_histogram" else []
    target = min(scales) if scales else None
    # bucket -> group -> accumulator
    acc: dict[tuple[tuple[str, ...], int], _Acc] = defaultdict(_Acc)
    prev: dict[int, dict[str, Any]] = {}
    for r in rows:
        bucket = (int(r["ts"]) // NS) // step * step
        a = acc[(tuple(r["labels"]), bucket)]
        p = prev.get(r["sid"])
        prev[r["sid"]] = r
        if p is None and r["temporality"] == 2 and r["start_ns"] >= window_start_ns > 0:
            p = _ZERO
        if kind == "summary":
            a.add_summary(r)
            continue
        if kind in ("gauge", "sum"):
            a.add_value(_increase(r, p, M.VALUE))
            continue
        buckets = _bounds_counts(kind, r, target)
        if r["temporality"] == 2 and p is not None and not _reset(r, p, M.COUNT):
            before = dict(_bounds_counts(kind, p, target))
            buckets = [(b, c - before.get(b, 0)) for b, c in buckets]
            a.add_hist(buckets, r[M.COUNT] - p[M.COUNT], r[M.SUM] - p[M.SUM])
        elif r["temporality"] == 2 and p is None:
            continue  # first cumulative point: no increase known yet
        else:
            a.add_hist(buckets, r[M.COUNT], r[M.SUM])
    out: dict[tuple[str, ...], list[list[float]]] = defaultdict(list)
    for (key, bucket), a in sorted(acc.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        value = a.result(agg, step)
        if value is not None and not math.isnan(value):
            out[key].append([bucket, value])
    return out


_ZERO: dict[str, Any] = {"start_ns": -1, M.VALUE: 0.0, M.COUNT: 0, M.SUM: 0.0, M.ZERO_COUNT: 0,
                         M.BUCKET_COUNTS: [], M.EXPLICIT_BOUNDS: [], M.SCALE: 0, M.POSITIVE_OFFSET: 0,
                         M.POSITIVE_BUCKET_COUNTS: [], M.NEGATIVE_OFFSET: 0, M.NEGATIVE_BUCKET_COUNTS: []}
"""A virtual point before a series that started inside the query window (everything is increase)."""


def _reset(r: dict[str, Any], p: dict[str, Any], field: str) -> bool:
    if p is _ZERO:
        return False
    return bool(r[field] < p[field] or (r["start_ns"] != p["start_ns"] and r["start_ns"] != 0))


def _increase(r: dict[str, Any], p: dict[str, Any] | None, field: str) -> float:
    if r["temporality"] != 2:
        return float(r[field])
    if p is None:
        return 0.0
    return float(r[field]) if _reset(r, p, field) else float(r[field] - p[field])


Bucket = tuple[tuple[float, float], int]
"""((lower, upper), count) — explicit buckets are (lower, upper], exponential ones by sign."""


def _bounds_counts(kind: str, r: dict[str, Any], target_scale: int | None = None) -> list[Bucket]:
    """Buckets of one point, ascending.

    Exponential histograms are re-bucketed to ``target_scale`` (≤ the point's scale) so points of
    different scales share bucket boundaries.
    """
    if kind == "histogram":
        bounds = [float(b) for b in r[M.EXPLICIT_BOUNDS]]
        uppers = bounds + [math.inf]
        first_lower = 0.0 if bounds and bounds[0] > 0 else -math.inf
        lowers = [first_lower] + bounds
        return [((lo, hi), int(c)) for lo, hi, c in zip(lowers, uppers, r[M.BUCKET_COUNTS], strict=False)]
    scale = int(r[M.SCALE])
    target = scale if target_scale is None else min(target_scale, scale)
    shift = scale - target
    base = 2.0 ** (2.0**-target)
    pos: dict[int, int] = defaultdict(int)
    neg: dict[int, int] = defaultdict(int)
    for i, c in enumerate(r[M.POSITIVE_BUCKET_COUNTS]):
        pos[(int(r[M.POSITIVE_OFFSET]) + i) >> shift] += int(c)
    for i, c in enumerate(r[M.NEGATIVE_BUCKET_COUNTS]):
        neg[(int(r[M.NEGATIVE_OFFSET]) + i) >> shift] += int(c)
    out: list[Bucket] = [((-(base ** (k + 1)), -(base**k)), neg[k]) for k in sorted(neg, reverse=True)]
    out.append(((0.0, 0.0), int(r[M.ZERO_COUNT])))
    out += [((base**k, base ** (k + 1)), pos[k]) for k in sorted(pos)]
    return out


class _Acc:
    def __init__(self) -> None:
        self.values: list[float] = []
        self.buckets: dict[tuple[float, float], float] = defaultdict(float)
        self.count = 0.0
        self.sum = 0.0
        self.quantiles: dict[float, list[float]] = defaultdict(list)

    def add_value(self, v: float) -> None:
        self.values.append(v)

    def add_hist(self, buckets: list[Bucket], count: float, total: float) -> None:
        for bounds, c in buckets:
            self.buckets[bounds] += c
        self.count += count
        self.sum += total

    def add_summary(self, r: dict[str, Any]) -> None:
        self.count += r[M.COUNT]
        self.sum += r[M.SUM]
        for q, v in zip(r["qs"], r["qv"], strict=False):
            self.quantiles[round(q, 6)].append(v)

    def result(self, agg: str, step: int) -> float | None:
        if self.values:
            total = sum(self.values)
            return {
                "rate": total / step,
                "sum": total,
                "avg": total / len(self.values),
                "count": float(len(self.values)),
                "min": min(self.values),
                "max": max(self.values),
            }.get(agg)
        if self.quantiles and agg in PERCENTILES:
            vals = self.quantiles.get(round(PERCENTILES[agg], 6))
            return sum(vals) / len(vals) if vals else None
        if agg == "rate":
            return self.count / step
        if agg == "count":
            return self.count
        if agg == "sum":
            return self.sum
        if agg == "avg":
            return self.sum / self.count if self.count else None
        if agg in PERCENTILES:
            return _bucket_quantile(PERCENTILES[agg], list(self.buckets.items()))
        return None


def _bucket_quantile(q: float, buckets: list[tuple[tuple[float, float], float]]) -> float | None:
    """Linear interpolation inside the bucket holding rank ``q`` (Prometheus ``histogram_quantile``).

    An infinite bound yields the finite one.
    """
    total = sum(c for _, c in buckets)
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    for (lo, hi), c in sorted(buckets):
        if c > 0 and seen + c >= rank:
            if math.isinf(hi):
                return lo
            if math.isinf(lo):
                return hi
            return lo + (hi - lo) * ((rank - seen) / c)
        seen += c
    return None
