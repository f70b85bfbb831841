"""ClickHouse DDL: the ``clickhouseexporter``-compatible tables plus Vigil's ingest staging.

Every statement is plain ClickHouse SQL and runs unchanged on embedded chDB and on a server.
Table columns, codecs, skip indexes, partitioning and ORDER BY follow the OpenTelemetry Collector
``clickhouseexporter`` so a stock Collector or Grafana's ClickHouse plugin can share the database.
Retention is a table TTL (days); ``ttl_only_drop_parts`` drops whole daily partitions.
"""

from __future__ import annotations

from contracts.otel_columns import Logs as L
from contracts.otel_columns import Metrics as M
from contracts.otel_columns import TraceIdTs as B
from contracts.otel_columns import Traces as T
from contracts.signals import Signal
from storage.clickhouse import flatten_sql as f
from storage.clickhouse.redaction import Redaction
from storage.clickhouse.wire_schema import staging_columns

ATTR_MAP = "Map(LowCardinality(String), String)"

TRACES_GRANULARITY = 2048
"""Smaller than the exporter's 8192: fetching one trace decompresses whole granules of the heavy
map columns for every granule its bloom filter hits; 2048 rows cut trace-by-id latency ~40 %
(measured on 10 M spans) at no cost in bytes per span."""

MERGE_SETTINGS = (
    "merge_selector_base = 32, merge_selector_enable_heuristic_to_lower_max_parts_to_merge_at_once = 0"
)
"""Vigil's one departure from the exporter's table settings (columns are untouched): ingest writes
many small parts (group-commit batches of a few thousand rows) and with the default merge selector
background merges cost as much CPU as the inserts themselves; a larger selector base merges more
parts at once and cuts write amplification by about a third (measured, see README)."""


def _ttl(expr: str, days: int) -> str:
    """The ``TTL`` clause deleting rows ``days`` days after ``expr``; '' (keep forever) when ``days`` <= 0."""
    return f"TTL {expr} + toIntervalDay({days})" if days > 0 else ""


def traces_table(days: int) -> str:
    """``CREATE TABLE IF NOT EXISTS otel_traces``, keeping spans ``days`` days (<= 0: forever)."""
    return f"""
CREATE TABLE IF NOT EXISTS otel_traces (
    {T.TIMESTAMP} DateTime64(9) CODEC(Delta, ZSTD(1)),
    {T.TRACE_ID} String CODEC(ZSTD(1)),
    {T.SPAN_ID} String CODEC(ZSTD(1)),
    {T.PARENT_SPAN_ID} String CODEC(ZSTD(1)),
    {T.TRACE_STATE} String CODEC(ZSTD(1)),
    {T.SPAN_NAME} LowCardinality(String) CODEC(ZSTD(1)),
    {T.SPAN_KIND} LowCardinality(String) CODEC(ZSTD(1)),
    {T.SERVICE_NAME} LowCardinality(String) CODEC(ZSTD(1)),
    {T.RESOURCE_ATTRIBUTES} {ATTR_MAP} CODEC(ZSTD(1)),
    {T.SCOPE_NAME} String CODEC(ZSTD(1)),
    {T.SCOPE_VERSION} String CODEC(ZSTD(1)),
    {T.SPAN_ATTRIBUTES} {ATTR_MAP} CODEC(ZSTD(1)),
    {T.DURATION} UInt64 CODEC(ZSTD(1)),
    {T.STATUS_CODE} LowCardinality(String) CODEC(ZSTD(1)),
    {T.STATUS_MESSAGE} String CODEC(ZSTD(1)),
    {T.EVENTS} Nested (
        {T.NESTED_TIMESTAMP} DateTime64(9),
        {T.NESTED_NAME} LowCardinality(String),
        {T.NESTED_ATTRIBUTES} {ATTR_MAP}
    ) CODEC(ZSTD(1)),
    {T.LINKS} Nested (
        {T.NESTED_TRACE_ID} String,
        {T.NESTED_SPAN_ID} String,
        {T.NESTED_TRACE_STATE} String,
        {T.NESTED_ATTRIBUTES} {ATTR_MAP}
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id {T.TRACE_ID} TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys({T.RESOURCE_ATTRIBUTES}) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues({T.RESOURCE_ATTRIBUTES}) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys({T.SPAN_ATTRIBUTES}) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues({T.SPAN_ATTRIBUTES}) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration {T.DURATION} TYPE minmax GRANULARITY 1
) ENGINE = MergeTree()
PARTITION BY toDate({T.TIMESTAMP})
ORDER BY ({T.SERVICE_NAME}, {T.SPAN_NAME}, toDateTime({T.TIMESTAMP}))
{_ttl("toDateTime(Timestamp)", days)}
SETTINGS index_granularity = {TRACES_GRANULARITY}, ttl_only_drop_parts = 1, {MERGE_SETTINGS}
"""


def trace_id_ts_table(days: int) -> str:
    """``CREATE TABLE IF NOT EXISTS otel_traces_trace_id_ts`` (trace id → first/last span time).

    Rows are kept ``days`` days (<= 0: forever), like the spans they index. ``Start``/``End`` are
    32-bit ``DateTime`` (seconds), so they are only valid up to 2106-02-07.
    """
    return f"""
CREATE TABLE IF NOT EXISTS otel_traces_trace_id_ts (
    {B.TRACE_ID} String CODEC(ZSTD(1)),
    {B.START} DateTime CODEC(Delta, ZSTD(1)),
    {B.END} DateTime CODEC(Delta, ZSTD(1)),
    INDEX idx_trace_id {B.TRACE_ID} TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree()
PARTITION BY toDate({B.START})
ORDER BY ({B.TRACE_ID}, {B.START})
{_ttl("toDateTime(Start)", days)}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, {MERGE_SETTINGS}
"""


TRACE_ID_TS_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS otel_traces_trace_id_ts_mv
TO otel_traces_trace_id_ts
AS SELECT
    TraceId,
    min(Timestamp) AS Start,
    max(Timestamp) AS End
FROM otel_traces
WHERE TraceId != ''
GROUP BY TraceId
"""


def logs_table(days: int) -> str:
    """``CREATE TABLE IF NOT EXISTS otel_logs``, keeping records ``days`` days (<= 0: forever)."""
    return f"""
CREATE TABLE IF NOT EXISTS otel_logs (
    {L.TIMESTAMP} DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    {L.TIMESTAMP_TIME} DateTime DEFAULT toDateTime({L.TIMESTAMP}),
    {L.TRACE_ID} String CODEC(ZSTD(1)),
    {L.SPAN_ID} String CODEC(ZSTD(1)),
    {L.TRACE_FLAGS} UInt8,
    {L.SEVERITY_TEXT} LowCardinality(String) CODEC(ZSTD(1)),
    {L.SEVERITY_NUMBER} UInt8,
    {L.SERVICE_NAME} LowCardinality(String) CODEC(ZSTD(1)),
    {L.BODY} String CODEC(ZSTD(1)),
    {L.RESOURCE_SCHEMA_URL} LowCardinality(String) CODEC(ZSTD(1)),
    {L.RESOURCE_ATTRIBUTES} {ATTR_MAP} CODEC(ZSTD(1)),
    {L.SCOPE_SCHEMA_URL} LowCardinality(String) CODEC(ZSTD(1)),
    {L.SCOPE_NAME} String CODEC(ZSTD(1)),
    {L.SCOPE_VERSION} LowCardinality(String) CODEC(ZSTD(1)),
    {L.SCOPE_ATTRIBUTES} {ATTR_MAP} CODEC(ZSTD(1)),
    {L.LOG_ATTRIBUTES} {ATTR_MAP} CODEC(ZSTD(1)),
    {L.EVENT_NAME} String CODEC(ZSTD(1)),
    INDEX idx_trace_id {L.TRACE_ID} TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys({L.RESOURCE_ATTRIBUTES}) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues({L.RESOURCE_ATTRIBUTES}) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys({L.SCOPE_ATTRIBUTES}) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues({L.SCOPE_ATTRIBUTES}) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys({L.LOG_ATTRIBUTES}) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues({L.LOG_ATTRIBUTES}) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body {L.BODY} TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = MergeTree()
PARTITION BY toDate({L.TIMESTAMP_TIME})
PRIMARY KEY ({L.SERVICE_NAME}, {L.TIMESTAMP_TIME})
ORDER BY ({L.SERVICE_NAME}, {L.TIMESTAMP_TIME}, {L.TIMESTAMP})
{_ttl("TimestampTime", days)}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, {MERGE_SETTINGS}
"""


_METRIC_COMMON = f"""
    {M.RESOURCE_ATTRIBUTES} {ATTR_MAP} CODEC(ZSTD(1)),
    {M.RESOURCE_SCHEMA_URL} String CODEC(ZSTD(1)),
    {M.SCOPE_NAME} String CODEC(ZSTD(1)),
    {M.SCOPE_VERSION} String CODEC(ZSTD(1)),
    {M.SCOPE_ATTRIBUTES} {ATTR_MAP} CODEC(ZSTD(1)),
    {M.SCOPE_DROPPED_ATTR_COUNT} UInt32 CODEC(ZSTD(1)),
    {M.SCOPE_SCHEMA_URL} String CODEC(ZSTD(1)),
    {M.SERVICE_NAME} LowCardinality(String) CODEC(ZSTD(1)),
    {M.METRIC_NAME} String CODEC(ZSTD(1)),
    {M.METRIC_DESCRIPTION} String CODEC(ZSTD(1)),
    {M.METRIC_UNIT} String CODEC(ZSTD(1)),
    {M.ATTRIBUTES} {ATTR_MAP} CODEC(ZSTD(1)),
    {M.START_TIME_UNIX} DateTime64(9) CODEC(Delta, ZSTD(1)),
    {M.TIME_UNIX} DateTime64(9) CODEC(Delta, ZSTD(1)),"""

_EXEMPLARS = f"""
    {M.EXEMPLARS} Nested (
        {M.FILTERED_ATTRIBUTES} {ATTR_MAP},
        {M.TIME_UNIX} DateTime64(9),
        {M.VALUE} Float64,
        {M.SPAN_ID} String,
        {M.TRACE_ID} String
    ) CODEC(ZSTD(1)),"""

_METRIC_INDEXES = f"""
    INDEX idx_res_attr_key mapKeys({M.RESOURCE_ATTRIBUTES}) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues({M.RESOURCE_ATTRIBUTES}) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys({M.SCOPE_ATTRIBUTES}) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues({M.SCOPE_ATTRIBUTES}) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys({M.ATTRIBUTES}) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues({M.ATTRIBUTES}) TYPE bloom_filter(0.01) GRANULARITY 1"""

METRIC_KINDS = {
    # exporter table suffix -> kind-specific columns
    "gauge": f"""
    {M.VALUE} Float64 CODEC(ZSTD(1)),
    {M.FLAGS} UInt32 CODEC(ZSTD(1)),""",
    "sum": f"""
    {M.VALUE} Float64 CODEC(ZSTD(1)),
    {M.FLAGS} UInt32 CODEC(ZSTD(1)),
    {M.AGGREGATION_TEMPORALITY} Int32 CODEC(ZSTD(1)),
    {M.IS_MONOTONIC} Boolean CODEC(Delta, ZSTD(1)),""",
    "histogram": f"""
    {M.COUNT} UInt64 CODEC(Delta, ZSTD(1)),
    {M.SUM} Float64 CODEC(ZSTD(1)),
    {M.BUCKET_COUNTS} Array(UInt64) CODEC(ZSTD(1)),
    {M.EXPLICIT_BOUNDS} Array(Float64) CODEC(ZSTD(1)),
    {M.FLAGS} UInt32 CODEC(ZSTD(1)),
    {M.MIN} Float64 CODEC(ZSTD(1)),
    {M.MAX} Float64 CODEC(ZSTD(1)),
    {M.AGGREGATION_TEMPORALITY} Int32 CODEC(ZSTD(1)),""",
    "exponential_histogram": f"""
    {M.COUNT} UInt64 CODEC(Delta, ZSTD(1)),
    {M.SUM} Float64 CODEC(ZSTD(1)),
    {M.SCALE} Int32 CODEC(ZSTD(1)),
    {M.ZERO_COUNT} UInt64 CODEC(ZSTD(1)),
    {M.POSITIVE_OFFSET} Int32 CODEC(ZSTD(1)),
    {M.POSITIVE_BUCKET_COUNTS} Array(UInt64) CODEC(ZSTD(1)),
    {M.NEGATIVE_OFFSET} Int32 CODEC(ZSTD(1)),
    {M.NEGATIVE_BUCKET_COUNTS} Array(UInt64) CODEC(ZSTD(1)),
    {M.FLAGS} UInt32 CODEC(ZSTD(1)),
    {M.MIN} Float64 CODEC(ZSTD(1)),
    {M.MAX} Float64 CODEC(ZSTD(1)),
    {M.AGGREGATION_TEMPORALITY} Int32 CODEC(ZSTD(1)),""",
    "summary": f"""
    {M.COUNT} UInt64 CODEC(Delta, ZSTD(1)),
    {M.SUM} Float64 CODEC(ZSTD(1)),
    {M.VALUE_AT_QUANTILES} Nested(
        {M.QUANTILE} Float64,
        {M.VALUE} Float64
    ) CODEC(ZSTD(1)),
    {M.FLAGS} UInt32 CODEC(ZSTD(1)),""",
}


def metric_table(kind: str, days: int) -> str:
    """``CREATE TABLE IF NOT EXISTS otel_metrics_<kind>``, keeping points ``days`` days (<= 0: forever).

    Args:
        kind: A key of :data:`METRIC_KINDS`; summaries have no exemplar columns.
        days: Retention in days.

    Raises:
        KeyError: ``kind`` is not a key of :data:`METRIC_KINDS`.
    """
    exemplars = "" if kind == "summary" else _EXEMPLARS
    return f"""
CREATE TABLE IF NOT EXISTS otel_metrics_{kind} ({_METRIC_COMMON}{METRIC_KINDS[kind]}{exemplars}{_METRIC_INDEXES}
) ENGINE = MergeTree()
PARTITION BY toDate({M.TIME_UNIX})
ORDER BY ({M.SERVICE_NAME}, {M.METRIC_NAME}, {M.ATTRIBUTES}, toUnixTimestamp64Nano({M.TIME_UNIX}))
{_ttl("toDateTime(TimeUnix)", days)}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, {MERGE_SETTINGS}
"""


# ---------------------------------------------------------------- ingest staging (Vigil's own)

STAGING = {
    Signal.TRACES: ("vigil_ingest_traces", "TracesRequest"),
    Signal.LOGS: ("vigil_ingest_logs", "LogsRequest"),
    Signal.METRICS: ("vigil_ingest_metrics", "MetricsRequest"),
}


def staging_table(signal: Signal) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for ``signal``'s ``Null`` staging table (see :data:`STAGING`).

    The columns mirror the wire schema's request message, so ``INSERT … FORMAT Protobuf`` of the raw
    OTLP bytes parses into it; ``Null`` keeps nothing, the flattening views see every block.
    """
    table, message = STAGING[signal]
    return f"CREATE TABLE IF NOT EXISTS {table} ({staging_columns(message)}) ENGINE = Null"


def _service(rattrs: str) -> str:
    """SQL for the ``service.name`` resource attribute ('' when absent) of the map ``rattrs``."""
    return f"{rattrs}['service.name']"


def traces_mv(r: Redaction) -> str:
    """``CREATE MATERIALIZED VIEW`` flattening ``vigil_ingest_traces`` into ``otel_traces``.

    Resource attributes are converted once per resource (not once per span) and the map is
    repeated by the span ``ARRAY JOIN``; span, event and link attributes share one conversion.
    Attributes are redacted and limited by ``r`` (see ``redaction.py``); ``Duration`` is in nanoseconds
    (0 when the end is not after the start).
    """
    s = "s"
    st = f.te(s, "status")
    with_attrs, (span_attrs,), (event_attrs, link_attrs) = f.row_attrs(
        [f.te(s, "attributes")], [(f.te(s, "events"), "attributes"), (f.te(s, "links"), "attributes")], r
    )
    return f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS vigil_ingest_traces_mv TO otel_traces AS
WITH {with_attrs}
SELECT
    {f.ns_time(f.te(s, 'start_time_unix_nano'))} AS Timestamp,
    {f.hex_id(f.te(s, 'trace_id'))} AS TraceId,
    {f.hex_id(f.te(s, 'span_id'))} AS SpanId,
    {f.hex_id(f.te(s, 'parent_span_id'))} AS ParentSpanId,
    {f.te(s, 'trace_state')} AS TraceState,
    {f.te(s, 'name')} AS SpanName,
    {f.enum_name(f.SPAN_KIND, f.te(s, 'kind'), 'Unspecified')} AS SpanKind,
    {_service('rattrs')} AS ServiceName,
    rattrs AS ResourceAttributes,
    scope_name AS ScopeName,
    scope_version AS ScopeVersion,
    {span_attrs} AS SpanAttributes,
    if({f.te(s, 'end_time_unix_nano')} > {f.te(s, 'start_time_unix_nano')},
       {f.te(s, 'end_time_unix_nano')} - {f.te(s, 'start_time_unix_nano')}, 0) AS Duration,
    {f.enum_name(f.STATUS_CODE, f.te(st, 'code'), 'Unset')} AS StatusCode,
    {f.te(st, 'message')} AS StatusMessage,
    arrayMap(e -> {f.ns_time(f.te('e', 'time_unix_nano'))}, {f.te(s, 'events')}) AS `Events.Timestamp`,
    arrayMap(e -> {f.te('e', 'name')}, {f.te(s, 'events')}) AS `Events.Name`,
    {event_attrs} AS `Events.Attributes`,
    arrayMap(l -> {f.hex_id(f.te('l', 'trace_id'))}, {f.te(s, 'links')}) AS `Links.TraceId`,
    arrayMap(l -> {f.hex_id(f.te('l', 'span_id'))}, {f.te(s, 'links')}) AS `Links.SpanId`,
    arrayMap(l -> {f.te('l', 'trace_state')}, {f.te(s, 'links')}) AS `Links.TraceState`,
    {link_attrs} AS `Links.Attributes`
FROM (
    SELECT rattrs,
           {f.te(f.te('ss', 'scope'), 'name')} AS scope_name,
           {f.te(f.te('ss', 'scope'), 'version')} AS scope_version,
           {f.te('ss', 'spans')} AS spans
    FROM (
        SELECT {f.attrs_map(f.te(f.te('rs', 'resource'), 'attributes'), r)} AS rattrs,
               {f.te('rs', 'scope_spans')} AS sss
        FROM vigil_ingest_traces
        ARRAY JOIN resource_spans AS rs
    )
    ARRAY JOIN sss AS ss
)
ARRAY JOIN spans AS s
"""


def logs_mv(red: Redaction) -> str:
    """``CREATE MATERIALIZED VIEW`` flattening ``vigil_ingest_logs`` into ``otel_logs``.

    ``Timestamp`` is the record's time, or its observed time when the former is 0. Attributes and
    the body are redacted (and attribute lists limited) by ``red``.
    """
    r = "r"
    t, ot = f.te(r, "time_unix_nano"), f.te(r, "observed_time_unix_nano")
    return f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS vigil_ingest_logs_mv TO otel_logs AS
SELECT
    {f.ns_time(f'if({t} != 0, {t}, {ot})')} AS Timestamp,
    toDateTime(Timestamp) AS TimestampTime,
    {f.hex_id(f.te(r, 'trace_id'))} AS TraceId,
    {f.hex_id(f.te(r, 'span_id'))} AS SpanId,
    toUInt8(bitAnd({f.te(r, 'flags')}, 255)) AS TraceFlags,
    {f.te(r, 'severity_text')} AS SeverityText,
    toUInt8(least(greatest({f.te(r, 'severity_number')}, 0), 255)) AS SeverityNumber,
    {_service('rattrs')} AS ServiceName,
    {red.text(f.any_str(f.te(r, 'body')))} AS Body,
    rschema AS ResourceSchemaUrl,
    rattrs AS ResourceAttributes,
    {f.te('sl', 'schema_url')} AS ScopeSchemaUrl,
    {f.te(f.te('sl', 'scope'), 'name')} AS ScopeName,
    {f.te(f.te('sl', 'scope'), 'version')} AS ScopeVersion,
    {f.attrs_map(f.te(f.te('sl', 'scope'), 'attributes'), red)} AS ScopeAttributes,
    {f.attrs_map(f.te(r, 'attributes'), red)} AS LogAttributes,
    {f.te(r, 'event_name')} AS EventName
FROM (
    SELECT rattrs, rschema, sl
    FROM (
        SELECT {f.attrs_map(f.te(f.te('rl', 'resource'), 'attributes'), red)} AS rattrs,
               {f.te('rl', 'schema_url')} AS rschema,
               {f.te('rl', 'scope_logs')} AS sls
        FROM vigil_ingest_logs
        ARRAY JOIN resource_logs AS rl
    )
    ARRAY JOIN sls AS sl
)
ARRAY JOIN {f.te('sl', 'log_records')} AS r
"""


def _number(dp: str) -> str:
    """SQL ``Float64`` value of a number data point or exemplar tuple (``as_int`` or ``as_double``)."""
    return f"if({f.te(dp, 'value')} = 'as_int', toFloat64({f.te(dp, 'as_int')}), {f.te(dp, 'as_double')})"


def _exemplar_columns(dp: str, r: Redaction) -> str:
    """SELECT items (with a leading comma) for the ``Exemplars.*`` columns of data point ``dp``."""
    ex = f.te(dp, "exemplars")
    return f""",
    arrayMap(x -> {f.attrs_map(f.te('x', 'filtered_attributes'), r)}, {ex}) AS `Exemplars.FilteredAttributes`,
    arrayMap(x -> {f.ns_time(f.te('x', 'time_unix_nano'))}, {ex}) AS `Exemplars.TimeUnix`,
    arrayMap(x -> {_number('x')}, {ex}) AS `Exemplars.Value`,
    arrayMap(x -> {f.hex_id(f.te('x', 'span_id'))}, {ex}) AS `Exemplars.SpanId`,
    arrayMap(x -> {f.hex_id(f.te('x', 'trace_id'))}, {ex}) AS `Exemplars.TraceId`"""


def _metric_kind_columns(kind: str, dp: str, data: str, r: Redaction) -> str:
    """SELECT items for the columns specific to metric ``kind`` (see :data:`METRIC_KINDS`)."""

    def g(name: str) -> str:
        return f.te(dp, name)

    temporality = f"{f.te(data, 'aggregation_temporality')} AS AggregationTemporality"
    if kind in ("gauge", "sum"):
        cols = f"{_number(dp)} AS Value,\n    {g('flags')} AS Flags"
        if kind == "sum":
            cols += f",\n    {temporality},\n    {f.te(data, 'is_monotonic')} AS IsMonotonic"
        return cols + _exemplar_columns(dp, r)
    if kind == "histogram":
        return f"""{g('count')} AS Count, {g('sum')} AS Sum,
    {g('bucket_counts')} AS BucketCounts, {g('explicit_bounds')} AS ExplicitBounds,
    {g('flags')} AS Flags, {g('min')} AS Min, {g('max')} AS Max,
    {temporality}{_exemplar_columns(dp, r)}"""
    if kind == "exponential_histogram":
        pos, neg = g("positive"), g("negative")
        return f"""{g('count')} AS Count, {g('sum')} AS Sum, {g('scale')} AS Scale,
    {g('zero_count')} AS ZeroCount,
    {f.te(pos, 'offset')} AS PositiveOffset, {f.te(pos, 'bucket_counts')} AS PositiveBucketCounts,
    {f.te(neg, 'offset')} AS NegativeOffset, {f.te(neg, 'bucket_counts')} AS NegativeBucketCounts,
    {g('flags')} AS Flags, {g('min')} AS Min, {g('max')} AS Max,
    {temporality}{_exemplar_columns(dp, r)}"""
    return f"""{g('count')} AS Count, {g('sum')} AS Sum,
    arrayMap(q -> {f.te('q', 'quantile')}, {g('quantile_values')}) AS `ValueAtQuantiles.Quantile`,
    arrayMap(q -> {f.te('q', 'value')}, {g('quantile_values')}) AS `ValueAtQuantiles.Value`,
    {g('flags')} AS Flags"""


def metrics_mv(kind: str, r: Redaction) -> str:
    """``CREATE MATERIALIZED VIEW`` flattening ``kind`` metrics of ``vigil_ingest_metrics``.

    One view per kind writes into ``otel_metrics_<kind>``; metrics of other kinds are filtered out.
    Attributes are redacted and limited by ``r``.

    Args:
        kind: A key of :data:`METRIC_KINDS`.
        r: The redaction rules compiled into the view.
    """
    data = f.te("m", kind)
    return f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS vigil_ingest_metrics_{kind}_mv TO otel_metrics_{kind} AS
SELECT
    rattrs AS ResourceAttributes,
    rschema AS ResourceSchemaUrl,
    {f.te(f.te('sm', 'scope'), 'name')} AS ScopeName,
    {f.te(f.te('sm', 'scope'), 'version')} AS ScopeVersion,
    {f.attrs_map(f.te(f.te('sm', 'scope'), 'attributes'), r)} AS ScopeAttributes,
    {f.te(f.te('sm', 'scope'), 'dropped_attributes_count')} AS ScopeDroppedAttrCount,
    {f.te('sm', 'schema_url')} AS ScopeSchemaUrl,
    {_service('rattrs')} AS ServiceName,
    {f.te('m', 'name')} AS MetricName,
    {f.te('m', 'description')} AS MetricDescription,
    {f.te('m', 'unit')} AS MetricUnit,
    {f.attrs_map(f.te('dp', 'attributes'), r)} AS Attributes,
    {f.ns_time(f.te('dp', 'start_time_unix_nano'))} AS StartTimeUnix,
    {f.ns_time(f.te('dp', 'time_unix_nano'))} AS TimeUnix,
    {_metric_kind_columns(kind, 'dp', data, r)}
FROM (
    SELECT rattrs, rschema, sm, m
    FROM (
        SELECT rattrs, rschema, sm
        FROM (
            SELECT {f.attrs_map(f.te(f.te('rm', 'resource'), 'attributes'), r)} AS rattrs,
                   {f.te('rm', 'schema_url')} AS rschema,
                   {f.te('rm', 'scope_metrics')} AS sms
            FROM vigil_ingest_metrics
            ARRAY JOIN resource_metrics AS rm
        )
        ARRAY JOIN sms AS sm
    )
    ARRAY JOIN {f.te('sm', 'metrics')} AS m
    WHERE {f.te('m', 'data')} = '{kind}'
)
ARRAY JOIN {f.te(data, 'data_points')} AS dp
"""
