"""Typed read models: what every ``/api/*`` endpoint answers (msgspec Structs, so OpenAPI shows them).

JSON field names are the ones the README documents. Every response carries ``meta``
(:class:`ReadMeta`): whether all telemetry acknowledged before the request was visible to it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

import msgspec


class MetricKind(StrEnum):
    """The five OTLP metric data kinds (one ``otel_metrics_<kind>`` table each)."""

    GAUGE = "gauge"
    SUM = "sum"
    HISTOGRAM = "histogram"
    EXPONENTIAL_HISTOGRAM = "exponential_histogram"
    SUMMARY = "summary"


class Agg(StrEnum):
    """How ``/api/metrics/query`` aggregates each step."""

    AVG = "avg"
    SUM = "sum"
    MIN = "min"
    MAX = "max"
    COUNT = "count"
    RATE = "rate"
    P50 = "p50"
    P90 = "p90"
    P95 = "p95"
    P99 = "p99"


class TraceStatus(StrEnum):
    """The span status filter of trace search."""

    ERROR = "error"
    OK = "ok"
    UNSET = "unset"


class ReadMeta(msgspec.Struct, frozen=True, kw_only=True):
    """Freshness of an answer (the same as the ``Vigil-Data-Complete`` header).

    ``data_complete`` is true only when everything acknowledged by ingest before the request was
    visible to the read. ``ingest_backlog_records``/``ingest_lag_seconds`` are what was still waiting
    (0 when complete; null when this process cannot see ingest at all, e.g. a query-only process: it
    then never claims completeness).
    """

    data_complete: bool = False
    ingest_backlog_records: int | None = None
    ingest_lag_seconds: float | None = None


UNKNOWN = ReadMeta()
"""What a process without a view of ingest can say: not known to be complete, backlog unknown."""


class ParameterDetail(msgspec.Struct, frozen=True, kw_only=True):
    """Which request parameter a 400 is about."""

    parameter: str


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """Every error answer: a message, and ``detail`` (the parameter for a 400, else null or a name)."""

    error: str
    detail: ParameterDetail | str | None = None


class HealthReport(msgspec.Struct, frozen=True, kw_only=True):
    """Combined health of the running components (503 when degraded)."""

    status: Literal["ok", "degraded"]
    components: dict[str, dict[str, Any]]
    version: str | None = None
    meta: ReadMeta = UNKNOWN


class SpanEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A span event."""

    time_unix_nano: int
    name: str
    attributes: dict[str, str]


class SpanLink(msgspec.Struct, frozen=True, kw_only=True):
    """A link to another span."""

    trace_id: str
    span_id: str
    attributes: dict[str, str]


class Span(msgspec.Struct, frozen=True, kw_only=True):
    """One span; ``kind``/``status_code`` are OTLP enum names (``SPAN_KIND_SERVER``, ``STATUS_CODE_ERROR``)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    service_name: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    duration_ns: int
    status_code: str
    status_message: str
    trace_state: str
    attributes: dict[str, str]
    resource_attributes: dict[str, str]
    scope_name: str
    events: list[SpanEvent]
    links: list[SpanLink]


class Trace(msgspec.Struct, frozen=True, kw_only=True):
    """Every span of one trace, in start order."""

    trace_id: str
    spans: list[Span]
    meta: ReadMeta = UNKNOWN


class TraceSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One trace found by search."""

    trace_id: str
    root_service_name: str
    root_name: str
    start_time_unix_nano: int
    duration_ns: int
    span_count: int
    error_count: int
    service_names: list[str]


class TraceList(msgspec.Struct, frozen=True, kw_only=True):
    """Trace search results, newest first."""

    traces: list[TraceSummary]
    meta: ReadMeta = UNKNOWN


class LogRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One log record."""

    time_unix_nano: int
    severity_text: str
    severity_number: int
    body: str
    service_name: str
    trace_id: str
    span_id: str
    attributes: dict[str, str]
    resource_attributes: dict[str, str]


class LogList(msgspec.Struct, frozen=True, kw_only=True):
    """Log search results, newest first."""

    logs: list[LogRecord]
    meta: ReadMeta = UNKNOWN


class ServiceSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Span and error counts and p95 span duration of one service, and the same figures of its requests.

    ``span_count``/``error_count``/``p95_duration_ns`` cover every span (kept for compatibility);
    ``request_count``/``failed_request_count``/``p95_request_ns`` count requests only
    (``query.apm.semconv.IS_REQUEST``/``IS_ERROR``).
    """

    name: str
    span_count: int
    error_count: int
    p95_duration_ns: int
    request_count: int = 0
    failed_request_count: int = 0
    p95_request_ns: int = 0


class ServiceList(msgspec.Struct, frozen=True, kw_only=True):
    """The service overview, by name."""

    services: list[ServiceSummary]
    meta: ReadMeta = UNKNOWN


class MetricInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One metric of the catalogue."""

    name: str
    type: MetricKind
    unit: str
    description: str
    service_names: list[str]


class MetricList(msgspec.Struct, frozen=True, kw_only=True):
    """The metric catalogue, by name and kind."""

    metrics: list[MetricInfo]
    meta: ReadMeta = UNKNOWN


class Series(msgspec.Struct, frozen=True, kw_only=True):
    """One label group's points: ``[unix_seconds, value]`` pairs, one per step bucket."""

    labels: dict[str, str]
    points: list[list[float]]


class MetricSeries(msgspec.Struct, frozen=True, kw_only=True):
    """An aggregated metric query's series."""

    name: str
    type: MetricKind
    series: list[Series]
    meta: ReadMeta = UNKNOWN


class QuantileValue(msgspec.Struct, frozen=True, kw_only=True):
    """A summary point's reported quantile."""

    quantile: float
    value: float


class MetricPoint(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One raw data point; only the fields of its kind are present."""

    service_name: str
    start_time_unix_nano: int
    time_unix_nano: int
    attributes: dict[str, str]
    resource_attributes: dict[str, str]
    scope_name: str
    value: float | None = None
    is_monotonic: bool | None = None
    aggregation_temporality: int | None = None
    count: int | None = None
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    bucket_counts: list[int] | None = None
    explicit_bounds: list[float] | None = None
    scale: int | None = None
    zero_count: int | None = None
    positive_offset: int | None = None
    positive_bucket_counts: list[int] | None = None
    negative_offset: int | None = None
    negative_bucket_counts: list[int] | None = None
    quantile_values: list[QuantileValue] | None = None


class MetricPoints(msgspec.Struct, frozen=True, kw_only=True):
    """Raw data points of one metric, newest first."""

    name: str
    type: MetricKind
    unit: str
    points: list[MetricPoint]
    meta: ReadMeta = UNKNOWN
