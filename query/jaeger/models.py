"""Jaeger's JSON, field for field: the ``structuredResponse`` envelope and the UI trace model.

Sources: ``internal/uimodel/model.go`` (Trace, Span, Reference, Process, Log, KeyValue,
DependencyLink, Operation) and ``structuredResponse``/``structuredError`` of
``cmd/jaeger/internal/extension/jaegerquery/internal/http_handler.go`` in jaegertracing/jaeger.
Go's nil slices encode as ``null`` (``warnings``, ``errors``); ``parentSpanID``/``flags``/``process``
(``omitempty``) are never written; ``startTime``/``duration``/``timestamp`` are microseconds.
"""

from __future__ import annotations

import msgspec

TagValue = str | bool | int | float


class KeyValue(msgspec.Struct):
    """A typed tag: ``type`` is ``string``, ``bool``, ``int64``, ``float64`` or ``binary``."""

    key: str
    type: str
    value: TagValue


class Reference(msgspec.Struct):
    """A span's reference: ``refType`` CHILD_OF (the parent) or FOLLOWS_FROM (an OTLP link)."""

    ref_type: str = msgspec.field(name="refType")
    trace_id: str = msgspec.field(name="traceID")
    span_id: str = msgspec.field(name="spanID")


class Log(msgspec.Struct):
    """A span event: ``timestamp`` in unix µs, the event name as field ``event``."""

    timestamp: int
    fields: list[KeyValue]


class Process(msgspec.Struct):
    """The emitting process: ``service.name`` and the other resource attributes as tags."""

    service_name: str = msgspec.field(name="serviceName")
    tags: list[KeyValue] = msgspec.field(default_factory=list)


class Span(msgspec.Struct):
    """One span in the UI model (``processID`` keys into the trace's ``processes``)."""

    trace_id: str = msgspec.field(name="traceID")
    span_id: str = msgspec.field(name="spanID")
    operation_name: str = msgspec.field(name="operationName")
    references: list[Reference]
    start_time: int = msgspec.field(name="startTime")
    duration: int
    tags: list[KeyValue]
    logs: list[Log]
    process_id: str = msgspec.field(name="processID")
    warnings: list[str] | None = None


class Trace(msgspec.Struct):
    """A trace: its spans and the processes they name (``p1``, ``p2``, … in first-seen order)."""

    trace_id: str = msgspec.field(name="traceID")
    spans: list[Span]
    processes: dict[str, Process]
    warnings: list[str] | None = None


class Operation(msgspec.Struct):
    """An operation of a service: ``spanKind`` is server, client, producer, consumer, internal or ``""``."""

    name: str
    span_kind: str = msgspec.field(name="spanKind")


class DependencyLink(msgspec.Struct):
    """Calls from ``parent`` service to ``child`` service in the window."""

    parent: str
    child: str
    call_count: int = msgspec.field(name="callCount")


class StructuredError(msgspec.Struct, omit_defaults=True):
    """One error: HTTP ``code`` and ``msg`` (``traceID`` when a requested trace id was not found)."""

    msg: str
    code: int = 0
    trace_id: str = msgspec.field(name="traceID", default="")


class _Envelope(msgspec.Struct, kw_only=True):
    total: int = 0
    limit: int = 0
    offset: int = 0
    errors: list[StructuredError] | None = None


class StringsResponse(_Envelope, kw_only=True):
    """``data``: names (services, or a service's operations)."""

    data: list[str]


class OperationsResponse(_Envelope, kw_only=True):
    """``data``: a service's operations with their span kinds."""

    data: list[Operation]


class TracesResponse(_Envelope, kw_only=True):
    """``data``: whole traces."""

    data: list[Trace]


class DependenciesResponse(_Envelope, kw_only=True):
    """``data``: service-to-service call counts."""

    data: list[DependencyLink]


class ErrorResponse(_Envelope, kw_only=True):
    """An error answer: ``data`` null, ``errors`` holds one error with the HTTP status as ``code``."""

    data: None = None
