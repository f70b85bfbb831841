"""A flat, wire-compatible view of the OTLP export requests for ClickHouse's ``Protobuf`` input format.

ClickHouse parses the raw OTLP bytes itself (``INSERT … FORMAT Protobuf``) into a ``Null`` staging
table whose materialized views flatten rows into the ``otel_*`` tables. ClickHouse needs (a) a
``.proto`` schema and (b) staging columns whose nested ``Tuple``/``Array`` types mirror the fields.
Both are generated here from one description so they can never disagree.

The schema differs from the official OTLP protos in two deliberate ways, both wire-compatible:

* ``AnyValue`` is not recursive. A value may hold an array/kvlist of *scalar* values (depth 2);
  deeper nesting is parsed as an empty value. This matches what flat staging columns can hold.
* Enums are declared ``int32`` (same varint encoding) and mapped to names in SQL.

Fields absent here (``dropped_*``, ``entity_refs``, ``*_strindex``…) are skipped by the parser.
"""

from __future__ import annotations

from dataclasses import dataclass

CH_SCALAR = {
    "string": "String",
    "bytes": "String",
    "bool": "Bool",
    "int64": "Int64",
    "sfixed64": "Int64",
    "int32": "Int32",
    "sint32": "Int32",
    "uint32": "UInt32",
    "fixed32": "UInt32",
    "uint64": "UInt64",
    "fixed64": "UInt64",
    "double": "Float64",
}


@dataclass(frozen=True)
class F:
    """One protobuf field: ``type`` is a scalar name from ``CH_SCALAR`` or a message name."""

    name: str
    type: str
    number: int
    repeated: bool = False


@dataclass(frozen=True)
class Msg:
    """One protobuf message of the wire schema.

    Attributes:
        name: Message name, unique in :data:`MESSAGES`.
        fields: The fields in declaration order.
        oneof: ``(oneof name, member field names)`` when some fields form a ``oneof``; ClickHouse
            then gets an ``Enum8`` column of that name telling which member is set.
    """

    name: str
    fields: tuple[F, ...]
    oneof: tuple[str, tuple[str, ...]] | None = None  # (oneof name, member field names)


def _kv(name: str, value_type: str) -> Msg:
    return Msg(name, (F("key", "string", 1), F("value", value_type, 2)))


_SCALARS = (
    F("string_value", "string", 1),
    F("bool_value", "bool", 2),
    F("int_value", "int64", 3),
    F("double_value", "double", 4),
    F("bytes_value", "bytes", 7),
)
_SCALAR_NAMES = tuple(f.name for f in _SCALARS)

MESSAGES: list[Msg] = [
    Msg("AnyLeaf", _SCALARS, oneof=("value", _SCALAR_NAMES)),
    _kv("KeyValueLeaf", "AnyLeaf"),
    Msg("ArrayLeaf", (F("values", "AnyLeaf", 1, True),)),
    Msg("KvListLeaf", (F("values", "KeyValueLeaf", 1, True),)),
    Msg(
        "AnyValue",
        _SCALARS + (F("array_value", "ArrayLeaf", 5), F("kvlist_value", "KvListLeaf", 6)),
        oneof=("value", _SCALAR_NAMES + ("array_value", "kvlist_value")),
    ),
    _kv("KeyValue", "AnyValue"),
    Msg("Resource", (F("attributes", "KeyValue", 1, True),)),
    Msg(
        "Scope",
        (
            F("name", "string", 1),
            F("version", "string", 2),
            F("attributes", "KeyValue", 3, True),
            F("dropped_attributes_count", "uint32", 4),
        ),
    ),
    # ---- traces
    Msg("Event", (F("time_unix_nano", "fixed64", 1), F("name", "string", 2), F("attributes", "KeyValue", 3, True))),
    Msg(
        "Link",
        (
            F("trace_id", "bytes", 1),
            F("span_id", "bytes", 2),
            F("trace_state", "string", 3),
            F("attributes", "KeyValue", 4, True),
        ),
    ),
    Msg("Status", (F("message", "string", 2), F("code", "int32", 3))),
    Msg(
        "Span",
        (
            F("trace_id", "bytes", 1),
            F("span_id", "bytes", 2),
            F("trace_state", "string", 3),
            F("parent_span_id", "bytes", 4),
            F("name", "string", 5),
            F("kind", "int32", 6),
            F("start_time_unix_nano", "fixed64", 7),
            F("end_time_unix_nano", "fixed64", 8),
            F("attributes", "KeyValue", 9, True),
            F("events", "Event", 11, True),
            F("links", "Link", 13, True),
            F("status", "Status", 15),
        ),
    ),
    Msg("ScopeSpans", (F("scope", "Scope", 1), F("spans", "Span", 2, True), F("schema_url", "string", 3))),
    Msg(
        "ResourceSpans",
        (F("resource", "Resource", 1), F("scope_spans", "ScopeSpans", 2, True), F("schema_url", "string", 3)),
    ),
    Msg("TracesRequest", (F("resource_spans", "ResourceSpans", 1, True),)),
    # ---- logs
    Msg(
        "LogRecord",
        (
            F("time_unix_nano", "fixed64", 1),
            F("severity_number", "int32", 2),
            F("severity_text", "string", 3),
            F("body", "AnyValue", 5),
            F("attributes", "KeyValue", 6, True),
            F("flags", "fixed32", 8),
            F("trace_id", "bytes", 9),
            F("span_id", "bytes", 10),
            F("observed_time_unix_nano", "fixed64", 11),
            F("event_name", "string", 12),
        ),
    ),
    Msg("ScopeLogs", (F("scope", "Scope", 1), F("log_records", "LogRecord", 2, True), F("schema_url", "string", 3))),
    Msg(
        "ResourceLogs",
        (F("resource", "Resource", 1), F("scope_logs", "ScopeLogs", 2, True), F("schema_url", "string", 3)),
    ),
    Msg("LogsRequest", (F("resource_logs", "ResourceLogs", 1, True),)),
    # ---- metrics
    Msg(
        "Exemplar",
        (
            F("time_unix_nano", "fixed64", 2),
            F("as_double", "double", 3),
            F("span_id", "bytes", 4),
            F("trace_id", "bytes", 5),
            F("as_int", "sfixed64", 6),
            F("filtered_attributes", "KeyValue", 7, True),
        ),
        oneof=("value", ("as_double", "as_int")),
    ),
    Msg(
        "NumberDataPoint",
        (
            F("start_time_unix_nano", "fixed64", 2),
            F("time_unix_nano", "fixed64", 3),
            F("as_double", "double", 4),
            F("exemplars", "Exemplar", 5, True),
            F("as_int", "sfixed64", 6),
            F("attributes", "KeyValue", 7, True),
            F("flags", "uint32", 8),
        ),
        oneof=("value", ("as_double", "as_int")),
    ),
    Msg(
        "HistogramDataPoint",
        (
            F("start_time_unix_nano", "fixed64", 2),
            F("time_unix_nano", "fixed64", 3),
            F("count", "fixed64", 4),
            F("sum", "double", 5),
            F("bucket_counts", "fixed64", 6, True),
            F("explicit_bounds", "double", 7, True),
            F("exemplars", "Exemplar", 8, True),
            F("attributes", "KeyValue", 9, True),
            F("flags", "uint32", 10),
            F("min", "double", 11),
            F("max", "double", 12),
        ),
    ),
    Msg("Buckets", (F("offset", "sint32", 1), F("bucket_counts", "uint64", 2, True))),
    Msg(
        "ExponentialHistogramDataPoint",
        (
            F("attributes", "KeyValue", 1, True),
            F("start_time_unix_nano", "fixed64", 2),
            F("time_unix_nano", "fixed64", 3),
            F("count", "fixed64", 4),
            F("sum", "double", 5),
            F("scale", "sint32", 6),
            F("zero_count", "fixed64", 7),
            F("positive", "Buckets", 8),
            F("negative", "Buckets", 9),
            F("flags", "uint32", 10),
            F("exemplars", "Exemplar", 11, True),
            F("min", "double", 12),
            F("max", "double", 13),
        ),
    ),
    Msg("ValueAtQuantile", (F("quantile", "double", 1), F("value", "double", 2))),
    Msg(
        "SummaryDataPoint",
        (
            F("start_time_unix_nano", "fixed64", 2),
            F("time_unix_nano", "fixed64", 3),
            F("count", "fixed64", 4),
            F("sum", "double", 5),
            F("quantile_values", "ValueAtQuantile", 6, True),
            F("attributes", "KeyValue", 7, True),
            F("flags", "uint32", 8),
        ),
    ),
    Msg("Gauge", (F("data_points", "NumberDataPoint", 1, True),)),
    Msg(
        "Sum",
        (
            F("data_points", "NumberDataPoint", 1, True),
            F("aggregation_temporality", "int32", 2),
            F("is_monotonic", "bool", 3),
        ),
    ),
    Msg("Histogram", (F("data_points", "HistogramDataPoint", 1, True), F("aggregation_temporality", "int32", 2))),
    Msg(
        "ExponentialHistogram",
        (F("data_points", "ExponentialHistogramDataPoint", 1, True), F("aggregation_temporality", "int32", 2)),
    ),
    Msg("Summary", (F("data_points", "SummaryDataPoint", 1, True),)),
    Msg(
        "Metric",
        (
            F("name", "string", 1),
            F("description", "string", 2),
            F("unit", "string", 3),
            F("gauge", "Gauge", 5),
            F("sum", "Sum", 7),
            F("histogram", "Histogram", 9),
            F("exponential_histogram", "ExponentialHistogram", 10),
            F("summary", "Summary", 11),
        ),
        oneof=("data", ("gauge", "sum", "histogram", "exponential_histogram", "summary")),
    ),
    Msg(
        "ScopeMetrics", (F("scope", "Scope", 1), F("metrics", "Metric", 2, True), F("schema_url", "string", 3))
    ),
    Msg(
        "ResourceMetrics",
        (F("resource", "Resource", 1), F("scope_metrics", "ScopeMetrics", 2, True), F("schema_url", "string", 3)),
    ),
    Msg("MetricsRequest", (F("resource_metrics", "ResourceMetrics", 1, True),)),
]

_BY_NAME = {m.name: m for m in MESSAGES}


def proto_text() -> str:
    """The whole schema as one ``.proto`` file (proto3, no package, no imports)."""
    out = ['syntax = "proto3";']
    for m in MESSAGES:
        members = set(m.oneof[1]) if m.oneof else set()
        lines = [f"message {m.name} {{"]
        oneof_lines: list[str] = []
        for f in m.fields:
            decl = f"{'repeated ' if f.repeated else ''}{f.type} {f.name} = {f.number};"
            (oneof_lines if f.name in members else lines).append("  " + decl)
        if m.oneof:
            lines.append(f"  oneof {m.oneof[0]} {{")
            lines.extend("  " + x for x in oneof_lines)
            lines.append("  }")
        lines.append("}")
        out.append("\n".join(lines))
    return "\n".join(out) + "\n"


def ch_type(message: str) -> str:
    """ClickHouse type of a staging column holding one ``message`` (a named ``Tuple``)."""
    m = _BY_NAME[message]
    parts = []
    if m.oneof:
        numbers = {f.name: f.number for f in m.fields}
        cases = ", ".join(f"'{n}' = {numbers[n]}" for n in m.oneof[1])
        parts.append(f"{m.oneof[0]} Enum8('' = 0, {cases})")
    for f in m.fields:
        t = CH_SCALAR[f.type] if f.type in CH_SCALAR else ch_type(f.type)
        parts.append(f"{f.name} {'Array(' + t + ')' if f.repeated else t}")
    return "Tuple(" + ", ".join(parts) + ")"


def staging_columns(request_message: str) -> str:
    """Column list for the ``Null`` staging table of one export request message."""
    m = _BY_NAME[request_message]
    cols = []
    for f in m.fields:
        t = ch_type(f.type)
        cols.append(f"`{f.name}` {'Array(' + t + ')' if f.repeated else t}")
    return ", ".join(cols)
