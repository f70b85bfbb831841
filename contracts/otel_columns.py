"""Names of the ``otel_*`` tables and their columns, spelled once for the DDL and the queries.

The tables follow the OpenTelemetry Collector ``clickhouseexporter``; ``storage.clickhouse.ddl`` builds
them from these names and ``query`` reads them by these names. Types, codecs and indexes stay in the DDL.
"""

from __future__ import annotations

from typing import Final


class Traces:
    """``otel_traces``: one row per span."""

    TABLE: Final = "otel_traces"
    TIMESTAMP: Final = "Timestamp"
    TRACE_ID: Final = "TraceId"
    SPAN_ID: Final = "SpanId"
    PARENT_SPAN_ID: Final = "ParentSpanId"
    TRACE_STATE: Final = "TraceState"
    SPAN_NAME: Final = "SpanName"
    SPAN_KIND: Final = "SpanKind"
    SERVICE_NAME: Final = "ServiceName"
    RESOURCE_ATTRIBUTES: Final = "ResourceAttributes"
    SCOPE_NAME: Final = "ScopeName"
    SCOPE_VERSION: Final = "ScopeVersion"
    SPAN_ATTRIBUTES: Final = "SpanAttributes"
    DURATION: Final = "Duration"
    STATUS_CODE: Final = "StatusCode"
    STATUS_MESSAGE: Final = "StatusMessage"
    EVENTS: Final = "Events"
    LINKS: Final = "Links"
    NESTED_TIMESTAMP: Final = "Timestamp"
    NESTED_NAME: Final = "Name"
    NESTED_ATTRIBUTES: Final = "Attributes"
    NESTED_TRACE_ID: Final = "TraceId"
    NESTED_SPAN_ID: Final = "SpanId"
    NESTED_TRACE_STATE: Final = "TraceState"


class TraceIdTs:
    """``otel_traces_trace_id_ts``: each trace's time bounds, by trace id."""

    TABLE: Final = "otel_traces_trace_id_ts"
    TRACE_ID: Final = "TraceId"
    START: Final = "Start"
    END: Final = "End"


class Logs:
    """``otel_logs``: one row per log record."""

    TABLE: Final = "otel_logs"
    TIMESTAMP: Final = "Timestamp"
    TIMESTAMP_TIME: Final = "TimestampTime"
    TRACE_ID: Final = "TraceId"
    SPAN_ID: Final = "SpanId"
    TRACE_FLAGS: Final = "TraceFlags"
    SEVERITY_TEXT: Final = "SeverityText"
    SEVERITY_NUMBER: Final = "SeverityNumber"
    SERVICE_NAME: Final = "ServiceName"
    BODY: Final = "Body"
    RESOURCE_SCHEMA_URL: Final = "ResourceSchemaUrl"
    RESOURCE_ATTRIBUTES: Final = "ResourceAttributes"
    SCOPE_SCHEMA_URL: Final = "ScopeSchemaUrl"
    SCOPE_NAME: Final = "ScopeName"
    SCOPE_VERSION: Final = "ScopeVersion"
    SCOPE_ATTRIBUTES: Final = "ScopeAttributes"
    LOG_ATTRIBUTES: Final = "LogAttributes"
    EVENT_NAME: Final = "EventName"


class Metrics:
    """``otel_metrics_<kind>``: one row per data point; common columns, then each kind's own."""

    TABLE_PREFIX: Final = "otel_metrics_"
    KINDS: Final = ("gauge", "sum", "histogram", "exponential_histogram", "summary")
    RESOURCE_ATTRIBUTES: Final = "ResourceAttributes"
    RESOURCE_SCHEMA_URL: Final = "ResourceSchemaUrl"
    SCOPE_NAME: Final = "ScopeName"
    SCOPE_VERSION: Final = "ScopeVersion"
    SCOPE_ATTRIBUTES: Final = "ScopeAttributes"
    SCOPE_DROPPED_ATTR_COUNT: Final = "ScopeDroppedAttrCount"
    SCOPE_SCHEMA_URL: Final = "ScopeSchemaUrl"
    SERVICE_NAME: Final = "ServiceName"
    METRIC_NAME: Final = "MetricName"
    METRIC_DESCRIPTION: Final = "MetricDescription"
    METRIC_UNIT: Final = "MetricUnit"
    ATTRIBUTES: Final = "Attributes"
    START_TIME_UNIX: Final = "StartTimeUnix"
    TIME_UNIX: Final = "TimeUnix"
    VALUE: Final = "Value"
    FLAGS: Final = "Flags"
    AGGREGATION_TEMPORALITY: Final = "AggregationTemporality"
    IS_MONOTONIC: Final = "IsMonotonic"
    COUNT: Final = "Count"
    SUM: Final = "Sum"
    MIN: Final = "Min"
    MAX: Final = "Max"
    BUCKET_COUNTS: Final = "BucketCounts"
    EXPLICIT_BOUNDS: Final = "ExplicitBounds"
    SCALE: Final = "Scale"
    ZERO_COUNT: Final = "ZeroCount"
    POSITIVE_OFFSET: Final = "PositiveOffset"
    POSITIVE_BUCKET_COUNTS: Final = "PositiveBucketCounts"
    NEGATIVE_OFFSET: Final = "NegativeOffset"
    NEGATIVE_BUCKET_COUNTS: Final = "NegativeBucketCounts"
    VALUE_AT_QUANTILES: Final = "ValueAtQuantiles"
    QUANTILE: Final = "Quantile"
    EXEMPLARS: Final = "Exemplars"
    FILTERED_ATTRIBUTES: Final = "FilteredAttributes"
    SPAN_ID: Final = "SpanId"
    TRACE_ID: Final = "TraceId"

    @staticmethod
    def table(kind: str) -> str:
        """``otel_metrics_<kind>``."""
        return f"otel_metrics_{kind}"


def nested(parent: str, child: str) -> str:
    """The quoted SQL name of a Nested sub-column (```Events.Timestamp```)."""
    return f"`{parent}.{child}`"
