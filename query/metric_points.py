"""Raw metric data points (no aggregation), newest first — for exact inspection and debugging.

Each point carries its timestamps (unix ns), attributes, resource attributes and the kind's own
fields: ``value`` (gauge/sum, plus ``is_monotonic``/``aggregation_temporality`` for sums), histogram
``count``/``sum``/``min``/``max``/``bucket_counts``/``explicit_bounds``, exponential histogram
``scale``/``zero_count``/``positive_offset``/``positive_bucket_counts``/``negative_*``, summary
``quantile_values``.
"""

from __future__ import annotations

from typing import Any

from contracts.reader import TelemetryReader
from query.errors import BadRequest
from query.filters import attr_conditions, parse_attrs
from query.metrics import KINDS, _kind_of, _range_conds
from query.timerange import TimeRange

_KIND_COLUMNS = {
    "gauge": "Value",
    "sum": "Value, IsMonotonic, AggregationTemporality",
    "histogram": "Count, Sum, Min, Max, BucketCounts, ExplicitBounds, AggregationTemporality",
    "exponential_histogram": "Count, Sum, Min, Max, Scale, ZeroCount, PositiveOffset, PositiveBucketCounts, "
    "NegativeOffset, NegativeBucketCounts, AggregationTemporality",
    "summary": "Count, Sum, `ValueAtQuantiles.Quantile` AS qs, `ValueAtQuantiles.Value` AS qv",
}
_RENAME = {
    "Value": "value", "IsMonotonic": "is_monotonic", "AggregationTemporality": "aggregation_temporality",
    "Count": "count", "Sum": "sum", "Min": "min", "Max": "max", "BucketCounts": "bucket_counts",
    "ExplicitBounds": "explicit_bounds", "Scale": "scale", "ZeroCount": "zero_count",
    "PositiveOffset": "positive_offset", "PositiveBucketCounts": "positive_bucket_counts",
    "NegativeOffset": "negative_offset", "NegativeBucketCounts": "negative_bucket_counts",
}


def metric_points(
    reader: TelemetryReader, name: str, tr: TimeRange, service: str | None = None,
    attrs: tuple[str, ...] = (), limit: int = 1000,
) -> dict[str, Any]:
    if not 1 <= limit <= 10_000:
        raise BadRequest("limit must be between 1 and 10000")
    kind = _kind_of(reader, name, tr)
    assert kind in KINDS
    params: dict[str, Any] = {"name": name, "limit": limit}
    conds = ["MetricName = {name:String}", *_range_conds(params, tr)]
    if service:
        conds.append("ServiceName = {service:String}")
        params["service"] = service
    conds += attr_conditions(parse_attrs(list(attrs)), ("Attributes", "ResourceAttributes"), params)
    rows = reader.rows(
        f"""SELECT ServiceName, MetricUnit, Attributes, ResourceAttributes, ScopeName,
                   toUnixTimestamp64Nano(StartTimeUnix) AS start_ns, toUnixTimestamp64Nano(TimeUnix) AS ts,
                   {_KIND_COLUMNS[kind]}
            FROM otel_metrics_{kind} WHERE {' AND '.join(conds)}
            ORDER BY TimeUnix DESC LIMIT {{limit:UInt32}}""",
        params,
    )
    points = []
    for r in rows:
        p: dict[str, Any] = {
            "service_name": r["ServiceName"],
            "start_time_unix_nano": int(r["start_ns"]),
            "time_unix_nano": int(r["ts"]),
            "attributes": dict(r["Attributes"]),
            "resource_attributes": dict(r["ResourceAttributes"]),
            "scope_name": r["ScopeName"],
        }
        for col, key in _RENAME.items():
            if col in r:
                v = r[col]
                p[key] = list(v) if isinstance(v, list | tuple) else v
        if kind == "summary":
            p["quantile_values"] = [{"quantile": q, "value": v} for q, v in zip(r["qs"], r["qv"], strict=False)]
        points.append(p)
    return {"name": name, "type": kind, "unit": rows[0]["MetricUnit"] if rows else "", "points": points}
