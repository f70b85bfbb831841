"""OTLP spans (Vigil's :class:`query.models.Trace`) → Jaeger's UI model, as Jaeger's OTLP translator does.

Mapping (``pkg/translator/jaeger/traces_to_jaegerproto.go`` of opentelemetry-collector-contrib, the
translator Jaeger v2 uses, and ``internal/storage/v2/elasticsearch/tracestore/to_dbmodel.go`` of
jaegertracing/jaeger for the current tag keys):

* span tags, in order: ``otel.scope.name``, the span attributes, ``span.kind`` (client, server,
  producer, consumer, internal; none when unspecified), ``otel.status_code`` (``OK``/``ERROR``; none
  when unset), ``error=true`` (bool) on ERROR, ``otel.status_description``, ``w3c.tracestate``;
* the parent → the first reference, CHILD_OF; each link → FOLLOWS_FROM (CHILD_OF when its
  ``opentracing.ref_type`` attribute is ``child_of``);
* events → logs whose first field is ``event`` = the event name, then the event attributes;
* resource attributes except ``service.name`` → process tags; equal processes share one id
  (``p1``, ``p2``, … in order of first use);
* ids: lowercase hex, a trace id whose high 64 bits are zero in its 16-digit form (Jaeger's
  ``TraceID.String``); times and durations in microseconds (integer division).

Attribute values are stored as strings (clickhouseexporter layout), so every attribute tag has
``type`` ``string``.
"""

from __future__ import annotations

from query import models as otlp
from query.jaeger.models import KeyValue, Log, Process, Reference, Span, Trace

SPAN_KIND_TAG = {
    "SPAN_KIND_CLIENT": "client",
    "SPAN_KIND_SERVER": "server",
    "SPAN_KIND_PRODUCER": "producer",
    "SPAN_KIND_CONSUMER": "consumer",
    "SPAN_KIND_INTERNAL": "internal",
}
STATUS_TAG = {"STATUS_CODE_OK": "OK", "STATUS_CODE_ERROR": "ERROR"}
_ZERO_HIGH = "0" * 16


def jaeger_trace_id(trace_id: str) -> str:
    """Jaeger's spelling of a 32-hex trace id: 16 digits when the high half is zero."""
    return trace_id[16:] if len(trace_id) == 32 and trace_id.startswith(_ZERO_HIGH) else trace_id


def _str(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, type="string", value=value)


def _attrs(attributes: dict[str, str]) -> list[KeyValue]:
    return [_str(k, v) for k, v in attributes.items()]


def span_tags(span: otlp.Span) -> list[KeyValue]:
    """The span's tags in the translator's order (see the module doc)."""
    tags = [_str("otel.scope.name", span.scope_name)] if span.scope_name else []
    tags += _attrs(span.attributes)
    if span.kind in SPAN_KIND_TAG:
        tags.append(_str("span.kind", SPAN_KIND_TAG[span.kind]))
    if span.status_code in STATUS_TAG:
        tags.append(_str("otel.status_code", STATUS_TAG[span.status_code]))
    if span.status_code == "STATUS_CODE_ERROR":
        tags.append(KeyValue(key="error", type="bool", value=True))
    if span.status_message:
        tags.append(_str("otel.status_description", span.status_message))
    if span.trace_state:
        tags.append(_str("w3c.tracestate", span.trace_state))
    return tags


def references(span: otlp.Span) -> list[Reference]:
    """CHILD_OF the parent first, then one reference per link."""
    trace_id = jaeger_trace_id(span.trace_id)
    refs = [Reference(ref_type="CHILD_OF", trace_id=trace_id, span_id=span.parent_span_id)] \
        if span.parent_span_id else []
    for link in span.links:
        kind = "CHILD_OF" if link.attributes.get("opentracing.ref_type") == "child_of" else "FOLLOWS_FROM"
        refs.append(Reference(ref_type=kind, trace_id=jaeger_trace_id(link.trace_id), span_id=link.span_id))
    return refs


def logs(span: otlp.Span) -> list[Log]:
    """One log per event: ``event`` = name (when named), then the attributes."""
    return [
        Log(timestamp=e.time_unix_nano // 1000,
            fields=([_str("event", e.name)] if e.name else []) + _attrs(e.attributes))
        for e in span.events
    ]


def process_of(span: otlp.Span) -> Process:
    """``service.name`` as serviceName, the other resource attributes as tags."""
    tags = [_str(k, v) for k, v in span.resource_attributes.items() if k != "service.name"]
    return Process(service_name=span.service_name, tags=tags)


def to_jaeger(trace: otlp.Trace) -> Trace:
    """The whole trace in Jaeger's UI model (spans keep Vigil's start order)."""
    processes: dict[str, Process] = {}
    ids: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
    spans = []
    for s in trace.spans:
        process = process_of(s)
        key = (process.service_name, tuple((t.key, str(t.value)) for t in process.tags))
        if key not in ids:
            ids[key] = f"p{len(ids) + 1}"
            processes[ids[key]] = process
        spans.append(Span(
            trace_id=jaeger_trace_id(s.trace_id), span_id=s.span_id, operation_name=s.name,
            references=references(s), start_time=s.start_time_unix_nano // 1000,
            duration=s.duration_ns // 1000, tags=span_tags(s), logs=logs(s), process_id=ids[key],
        ))
    return Trace(trace_id=jaeger_trace_id(trace.trace_id), spans=spans, processes=processes)
