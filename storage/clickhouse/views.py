"""ClickHouse materialized views that flatten the ingest staging tables into the ``otel_*`` tables.

Each view reads one ``vigil_ingest_<signal>`` Null table (rows = OTLP requests, parsed from protobuf by
ClickHouse) and writes flattened rows with ``ARRAY JOIN``; the redaction rules are compiled into the
SQL (see :mod:`storage.clickhouse.redaction`). The tables themselves: :mod:`storage.clickhouse.ddl`.
"""

from __future__ import annotations

from storage.clickhouse import flatten_sql as f
from storage.clickhouse.redaction import Redaction


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
