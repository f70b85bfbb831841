"""Raw metric data points (no aggregation), newest first — for exact inspection and debugging.

Each point carries its timestamps (unix ns), attributes, resource attributes and the kind's own
fields: ``value`` (gauge/sum, plus ``is_monotonic``/``aggregation_temporality`` for sums), histogram
``count``/``sum``/``min``/``max``/``bucket_counts``/``explicit_bounds``, exponential histogram
``scale``/``zero_count``/``positive_offset``/``positive_bucket_counts``/``negative_*``, summary
``quantile_values``.
"""

from __future__ import annotations

from typing import Any

from contracts.otel_columns import Metrics as M
from contracts.otel_columns import nested
from contracts.reader import TelemetryReader
from query.errors import BadRequest
from query.filters import attr_conditions, metrics_time, parse_attrs
from query.metrics import ATTR_MAPS, kind_of
from query.models import MetricKind, MetricPoint, MetricPoints, QuantileValue
from query.timerange import TimeRange

MAX_LIMIT = 10_000
_RENAME = {
    M.VALUE: "value", M.IS_MONOTONIC: "is_monotonic", M.AGGREGATION_TEMPORALITY: "aggregation_temporality",
    M.COUNT: "count", M.SUM: "sum", M.MIN: "min", M.MAX: "max", M.BUCKET_COUNTS: "bucket_counts",
    M.EXPLICIT_BOUNDS: "explicit_bounds", M.SCALE: "scale", M.ZERO_COUNT: "zero_count",
    M.POSITIVE_OFFSET: "positive_offset", M.POSITIVE_BUCKET_COUNTS: "positive_bucket_counts",
    M.NEGATIVE_OFFSET: "negative_offset", M.NEGATIVE_BUCKET_COUNTS: "negative_bucket_counts",
}
_HIST = (M.COUNT, M.SUM, M.MIN, M.MAX)
_KIND_COLUMNS = {
    "gauge": (M.VALUE,),
    "sum": (M.VALUE, M.IS_MONOTONIC, M.AGGREGATION_TEMPORALITY),
    "histogram": (*_HIST, M.BUCKET_COUNTS, M.EXPLICIT_BOUNDS, M.AGGREGATION_TEMPORALITY),
    "exponential_histogram": (*_HIST, M.SCALE, M.ZERO_COUNT, M.POSITIVE_OFFSET, M.POSITIVE_BUCKET_COUNTS,
                              M.NEGATIVE_OFFSET, M.NEGATIVE_BUCKET_COUNTS, M.AGGREGATION_TEMPORALITY),
    "summary": (M.COUNT, M.SUM, f"{nested(M.VALUE_AT_QUANTILES, M.QUANTILE)} AS qs",
                f"{nested(M.VALUE_AT_QUANTILES, M.VALUE)} AS qv"),
}


def _point(kind: MetricKind, r: dict[str, Any]) -> MetricPoint:
    fields: dict[str, Any] = {}
    for col, key in _RENAME.items():
        if col in r:
            v = r[col]
            fields[key] = list(v) if isinstance(v, list | tuple) else v
    if kind == MetricKind.SUMMARY:
        fields["quantile_values"] = [QuantileValue(quantile=q, value=v)
                                     for q, v in zip(r["qs"], r["qv"], strict=False)]
    return MetricPoint(
        service_name=r[M.SERVICE_NAME],
        start_time_unix_nano=int(r["start_ns"]),
        time_unix_nano=int(r["ts"]),
        attributes=dict(r[M.ATTRIBUTES]),
        resource_attributes=dict(r[M.RESOURCE_ATTRIBUTES]),
        scope_name=r[M.SCOPE_NAME],
        **fields,
    )


def metric_points(
    reader: TelemetryReader, name: str, tr: TimeRange, service: str | None = None,
    attrs: tuple[str, ...] = (), limit: int = 1000,
) -> MetricPoints:
    """Up to ``limit`` raw points of metric ``name`` in ``tr``, newest first."""
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"must be between 1 and {MAX_LIMIT}", "limit")
    kind = kind_of(reader, name, tr)
    params: dict[str, Any] = {"name": name, "limit": limit, **tr.params}
    conds = [f"{M.METRIC_NAME} = {{name:String}}", metrics_time()]
    if service:
        conds.append(f"{M.SERVICE_NAME} = {{service:String}}")
        params["service"] = service
    conds += attr_conditions(parse_attrs(list(attrs)), ATTR_MAPS, params)
    rows = reader.rows(
        f"""SELECT {M.SERVICE_NAME}, {M.METRIC_UNIT}, {M.ATTRIBUTES}, {M.RESOURCE_ATTRIBUTES}, {M.SCOPE_NAME},
                   toUnixTimestamp64Nano({M.START_TIME_UNIX}) AS start_ns,
                   toUnixTimestamp64Nano({M.TIME_UNIX}) AS ts, {', '.join(_KIND_COLUMNS[kind])}
            FROM {M.table(kind)} WHERE {' AND '.join(conds)}
            ORDER BY {M.TIME_UNIX} DESC LIMIT {{limit:UInt32}}""",
        params,
    )
    unit = rows[0][M.METRIC_UNIT] if rows else ""
    return MetricPoints(name=name, type=kind, unit=unit, points=[_point(kind, r) for r in rows])
