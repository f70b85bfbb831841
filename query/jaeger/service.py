"""Jaeger's reads over ``otel_traces``: services, operations, trace search, one trace, dependencies.

Contracts: every value reaches SQL as a bound parameter. Services and operations are those with
spans in the last :data:`CATALOGUE_LOOKBACK_NS` (Jaeger's own lists have no window). Trace search
uses Vigil's trace search (:func:`query.traces.search_traces`: traces with ONE span matching every
filter, newest first), so ``/jaeger/api/traces`` and ``/api/traces`` find the same traces for the same
filters; Jaeger's special tags ``error=true`` and ``otel.status_code=OK|ERROR`` filter on the span
status, every other tag on a span or resource attribute equal to the value. A dependency link counts
client→server pairs: a CLIENT span of one service whose direct child is a SERVER span of another.
"""

from __future__ import annotations

import time

from contracts.otel_columns import Traces as T
from contracts.reader import TelemetryReader
from query import traces
from query.errors import BadRequest, NotFound
from query.filters import traces_time
from query.jaeger.convert import to_jaeger
from query.jaeger.models import DependencyLink, Operation, Trace
from query.jaeger.params import TraceSearch
from query.timerange import TimeRange

CATALOGUE_LOOKBACK_NS = 7 * 86_400_000_000_000
_STATUS_TAGS = {("error", "true"): "error", ("otel.status_code", "ERROR"): "error",
                ("otel.status_code", "OK"): "ok"}
_KIND_OUT = {"Unspecified": "", "Internal": "internal", "Server": "server", "Client": "client",
             "Producer": "producer", "Consumer": "consumer"}


def _catalogue_range() -> TimeRange:
    now = time.time_ns()
    return TimeRange(now - CATALOGUE_LOOKBACK_NS, now)


def services(reader: TelemetryReader) -> list[str]:
    """Service names with spans in the catalogue window, sorted."""
    rows = reader.rows(
        f"SELECT DISTINCT {T.SERVICE_NAME} AS s FROM {T.TABLE} WHERE {traces_time()} ORDER BY s",
        _catalogue_range().params,
    )
    return [r["s"] for r in rows if r["s"]]


def operations(reader: TelemetryReader, service: str, span_kind: str | None) -> list[Operation]:
    """The service's (span name, span kind) pairs, sorted; ``span_kind`` is a stored SpanKind or None."""
    params: dict[str, object] = {**_catalogue_range().params, "service": service}
    cond = ""
    if span_kind is not None:
        cond = f" AND {T.SPAN_KIND} = {{kind:String}}"
        params["kind"] = span_kind
    rows = reader.rows(
        f"SELECT {T.SPAN_NAME} AS n, {T.SPAN_KIND} AS k FROM {T.TABLE} WHERE {traces_time()} "
        f"AND {T.SERVICE_NAME} = {{service:String}}{cond} GROUP BY n, k ORDER BY n, k",
        params,
    )
    return [Operation(name=r["n"], span_kind=_KIND_OUT.get(r["k"], r["k"].lower())) for r in rows]


def operation_names(reader: TelemetryReader, service: str) -> list[str]:
    """The legacy answer: the service's distinct operation names, sorted."""
    return sorted({op.name for op in operations(reader, service, None)})


def _query(q: TraceSearch) -> traces.TraceQuery:
    status = None
    attrs = []
    for key, value in q.tags.items():
        if (key, value) in _STATUS_TAGS:
            status = _STATUS_TAGS[(key, value)]
        else:
            attrs.append(f"{key}:{value}")
    lo = q.min_duration_ns / 1e6 if q.min_duration_ns is not None else None
    hi = q.max_duration_ns / 1e6 if q.max_duration_ns is not None else None
    return traces.TraceQuery(q.service, q.operation, status, lo, hi, tuple(attrs), q.limit)


def find_traces(reader: TelemetryReader, q: TraceSearch) -> list[Trace]:
    """Whole traces with a span matching every filter, newest first (at most ``q.limit``)."""
    try:
        found = traces.search_traces(reader, _query(q), TimeRange(q.start_ns, q.end_ns))
    except BadRequest as exc:  # attr filter errors name Vigil's "attr"; Jaeger's parameter is "tags"
        raise BadRequest(str(exc).removeprefix("attr: "), "tags") if exc.parameter == "attr" else exc from None
    out = []
    for summary in found.traces:
        try:
            out.append(to_jaeger(traces.get_trace(reader, summary.trace_id)))
        except NotFound:  # dropped by retention between the two reads
            continue
    return out


def get_trace(reader: TelemetryReader, trace_id: str) -> Trace:
    """One whole trace (``trace_id``: 32 lowercase hex); :class:`NotFound` when absent."""
    try:
        return to_jaeger(traces.get_trace(reader, trace_id))
    except NotFound:
        raise NotFound("trace not found") from None


def traces_by_ids(reader: TelemetryReader, trace_ids: list[str]) -> tuple[list[Trace], list[str]]:
    """(the traces found, the ids not found) for ``traceID=`` searches (ids: 32 lowercase hex)."""
    found, missing = [], []
    for trace_id in dict.fromkeys(trace_ids):
        try:
            found.append(to_jaeger(traces.get_trace(reader, trace_id)))
        except NotFound:
            missing.append(trace_id)
    return found, missing


def dependencies(reader: TelemetryReader, start_ns: int, end_ns: int, service: str | None) -> list[DependencyLink]:
    """Client→server call counts between different services in the window, by (parent, child).

    Both spans of a pair must start in the window; duplicate rows of one span count once. With
    ``service``, only links where it is the parent or the child (Jaeger's filter).
    """
    def side(id_column: str, kind: str) -> str:
        return (f"SELECT DISTINCT {T.TRACE_ID} AS t, {id_column} AS id, {T.SERVICE_NAME} AS s FROM {T.TABLE} "
                f"WHERE {traces_time()} AND {T.SPAN_KIND} = '{kind}' AND {T.TRACE_ID} != ''")

    client, server = side(T.SPAN_ID, "Client"), side(T.PARENT_SPAN_ID, "Server")
    params: dict[str, object] = {"start_ns": start_ns, "end_ns": end_ns}
    where = "p.s != c.s"
    if service:
        where += " AND (p.s = {service:String} OR c.s = {service:String})"
        params["service"] = service
    rows = reader.rows(
        f"SELECT p.s AS parent, c.s AS child, count() AS n FROM ({client}) AS p "
        f"INNER JOIN ({server}) AS c ON p.t = c.t AND p.id = c.id WHERE {where} "
        f"GROUP BY parent, child ORDER BY parent, child",
        params,
    )
    return [DependencyLink(parent=r["parent"], child=r["child"], call_count=int(r["n"])) for r in rows]
