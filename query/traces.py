"""Trace services: one trace by id, and trace search.

Contracts: ids are lowercase hex (32 chars for traces); timestamps are unix nanoseconds (int);
attribute values are the stored ``clickhouseexporter`` strings. ``get_trace`` raises ``NotFound``
for an unknown id and ``BadRequest`` for a malformed one; it finds a trace at any age within
retention through ``otel_traces_trace_id_ts``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contracts.otel_columns import TraceIdTs as B
from contracts.otel_columns import Traces as T
from contracts.otel_columns import nested
from contracts.reader import TelemetryReader
from query.errors import BadRequest, NotFound
from query.filters import attr_conditions, parse_attrs, traces_time
from query.models import Span, SpanEvent, SpanLink, Trace, TraceList, TraceStatus, TraceSummary
from query.timerange import TimeRange

_TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")
MAX_LIMIT = 1000
KIND_TO_OTLP = {
    "Unspecified": "SPAN_KIND_UNSPECIFIED",
    "Internal": "SPAN_KIND_INTERNAL",
    "Server": "SPAN_KIND_SERVER",
    "Client": "SPAN_KIND_CLIENT",
    "Producer": "SPAN_KIND_PRODUCER",
    "Consumer": "SPAN_KIND_CONSUMER",
}
STATUS_TO_OTLP = {"Unset": "STATUS_CODE_UNSET", "Ok": "STATUS_CODE_OK", "Error": "STATUS_CODE_ERROR"}
STATUS_FILTER = {TraceStatus.ERROR: "Error", TraceStatus.OK: "Ok", TraceStatus.UNSET: "Unset"}

_EV, _LN = T.EVENTS, T.LINKS
_SPAN_COLUMNS = f"""
    {T.TRACE_ID}, {T.SPAN_ID}, {T.PARENT_SPAN_ID}, {T.SPAN_NAME}, {T.SPAN_KIND}, {T.SERVICE_NAME},
    toUnixTimestamp64Nano({T.TIMESTAMP}) AS start_ns, {T.DURATION}, {T.STATUS_CODE}, {T.STATUS_MESSAGE},
    {T.SPAN_ATTRIBUTES}, {T.RESOURCE_ATTRIBUTES}, {T.SCOPE_NAME}, {T.TRACE_STATE},
    arrayMap(t -> toUnixTimestamp64Nano(t), {nested(_EV, T.NESTED_TIMESTAMP)}) AS ev_ts,
    {nested(_EV, T.NESTED_NAME)} AS ev_name, {nested(_EV, T.NESTED_ATTRIBUTES)} AS ev_attrs,
    {nested(_LN, T.NESTED_TRACE_ID)} AS l_trace, {nested(_LN, T.NESTED_SPAN_ID)} AS l_span,
    {nested(_LN, T.NESTED_ATTRIBUTES)} AS l_attrs
"""


def normalise_trace_id(trace_id: str, parameter: str = "trace_id") -> str:
    """Lowercase hex, or :class:`BadRequest` naming ``parameter``."""
    if not _TRACE_ID.match(trace_id):
        raise BadRequest(f"{trace_id[:80]!r} must be 32 hex characters", parameter)
    return trace_id.lower()


def _span(r: dict[str, Any]) -> Span:
    start = int(r["start_ns"])
    return Span(
        trace_id=r[T.TRACE_ID],
        span_id=r[T.SPAN_ID],
        parent_span_id=r[T.PARENT_SPAN_ID],
        name=r[T.SPAN_NAME],
        kind=KIND_TO_OTLP.get(r[T.SPAN_KIND], r[T.SPAN_KIND]),
        service_name=r[T.SERVICE_NAME],
        start_time_unix_nano=start,
        end_time_unix_nano=start + int(r[T.DURATION]),
        duration_ns=int(r[T.DURATION]),
        status_code=STATUS_TO_OTLP.get(r[T.STATUS_CODE], r[T.STATUS_CODE]),
        status_message=r[T.STATUS_MESSAGE],
        trace_state=r[T.TRACE_STATE],
        attributes=dict(r[T.SPAN_ATTRIBUTES]),
        resource_attributes=dict(r[T.RESOURCE_ATTRIBUTES]),
        scope_name=r[T.SCOPE_NAME],
        events=[SpanEvent(time_unix_nano=int(t), name=n, attributes=dict(a))
                for t, n, a in zip(r["ev_ts"], r["ev_name"], r["ev_attrs"], strict=False)],
        links=[SpanLink(trace_id=t, span_id=s, attributes=dict(a))
               for t, s, a in zip(r["l_trace"], r["l_span"], r["l_attrs"], strict=False)],
    )


def get_trace(reader: TelemetryReader, trace_id: str) -> Trace:
    """Every span of one trace (any age within retention)."""
    tid = normalise_trace_id(trace_id)
    # One statement: the scalar subquery reads the trace's time bounds from the trace-id table (its
    # primary key) and becomes a constant for index analysis. The bounds are on the sorting key's own
    # expression (toDateTime(Timestamp)) so the primary index prunes granules inside each
    # (ServiceName, SpanName) range, not only whole partitions. An unknown id has no bounds (min/max of
    # nothing is 1970) and matches no row.
    rows = reader.rows(
        f"WITH (SELECT (min({B.START}), max({B.END})) FROM {B.TABLE} WHERE {B.TRACE_ID} = {{tid:String}}) AS b "
        f"SELECT {_SPAN_COLUMNS} FROM {T.TABLE} WHERE {T.TRACE_ID} = {{tid:String}} "
        f"AND toDateTime({T.TIMESTAMP}) >= b.1 AND toDateTime({T.TIMESTAMP}) <= b.2 "
        f"ORDER BY {T.TIMESTAMP}, {T.SPAN_ID} LIMIT 1 BY {T.SPAN_ID}, {T.TIMESTAMP}",
        {"tid": tid},
    )
    if not rows:
        raise NotFound(f"trace {tid} not found")
    return Trace(trace_id=tid, spans=[_span(r) for r in rows])


@dataclass(frozen=True)
class TraceQuery:
    """The filters of ``/api/traces``."""

    service: str | None = None
    name: str | None = None
    status: str | None = None
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    attrs: tuple[str, ...] = ()
    limit: int = 20


def _resource_key_absent(reader: TelemetryReader, tr: TimeRange) -> Callable[[str, str], bool]:
    """``skip`` for attr filters: True for ResourceAttributes when no resource in range has the key.

    Answered from the mapKeys bloom filter, so it costs little when the key is absent.
    """

    def skip(column: str, key: str) -> bool:
        if column != T.RESOURCE_ATTRIBUTES:
            return False
        rows = reader.rows(
            f"SELECT count() AS n FROM (SELECT 1 FROM {T.TABLE} WHERE {traces_time()} "
            f"AND mapContains({T.RESOURCE_ATTRIBUTES}, {{key:String}}) LIMIT 1)",
            {**tr.params, "key": key},
        )
        return not rows[0]["n"]

    return skip


def _windows(tr: TimeRange) -> list[TimeRange]:
    """Newest-first search windows ending at ``tr.end``: 1/96, 1/24, 1/4 of the range, then all of it.

    A selective or recent match is found after scanning a sliver; a rare one costs one extra full
    scan at most (each step's bloom filters skip most granules).
    """
    span = tr.end_ns - tr.start_ns
    fractions = (96, 24, 4) if span > 900 * 1_000_000_000 else ()
    return [TimeRange(tr.end_ns - span // f, tr.end_ns) for f in fractions] + [tr]


def _status(value: str) -> str:
    try:
        return STATUS_FILTER[TraceStatus(value.lower())]
    except ValueError:
        raise BadRequest(f"{value[:40]!r}: use one of error, ok, unset", "status") from None


def _conditions(reader: TelemetryReader, q: TraceQuery, tr: TimeRange, params: dict[str, Any]) -> list[str]:
    conds = [traces_time()]
    for value, column, key in ((q.service, T.SERVICE_NAME, "service"), (q.name, T.SPAN_NAME, "name")):
        if value:
            conds.append(f"{column} = {{{key}:String}}")
            params[key] = value
    if q.status:
        conds.append(f"{T.STATUS_CODE} = {{status:String}}")
        params["status"] = _status(q.status)
    for bound, op, key in ((q.min_duration_ms, ">=", "min_duration_ms"), (q.max_duration_ms, "<=", "max_duration_ms")):
        if bound is not None:
            if bound < 0:
                raise BadRequest("durations must be >= 0", key)
            conds.append(f"{T.DURATION} {op} {{{key}:UInt64}}")
            params[key] = int(bound * 1_000_000)
    attrs = parse_attrs(list(q.attrs))
    if attrs:
        conds += attr_conditions(attrs, (T.SPAN_ATTRIBUTES, T.RESOURCE_ATTRIBUTES), params,
                                 _resource_key_absent(reader, tr))
    return conds


def search_traces(reader: TelemetryReader, q: TraceQuery, tr: TimeRange) -> TraceList:
    """Traces with at least one span matching every filter, newest first.

    Statements: the newest matching trace ids (over growing windows until ``limit`` are found), their
    exact time bounds from ``otel_traces_trace_id_ts``, then whole-trace summaries for just those ids
    and bounds.
    """
    if not 1 <= q.limit <= MAX_LIMIT:
        raise BadRequest(f"must be between 1 and {MAX_LIMIT}", "limit")
    params: dict[str, Any] = dict(tr.params)
    conds = _conditions(reader, q, tr, params)
    params["limit"] = q.limit
    matched: list[dict[str, Any]] = []
    for window in _windows(tr):
        matched = reader.rows(
            f"""SELECT {T.TRACE_ID}, toUnixTimestamp64Nano(min({T.TIMESTAMP})) AS first_ns FROM {T.TABLE}
                WHERE {' AND '.join(conds)} AND {T.TRACE_ID} != ''
                GROUP BY {T.TRACE_ID} ORDER BY first_ns DESC LIMIT {{limit:UInt32}}""",
            {**params, **window.params},
        )
        if len(matched) >= q.limit:
            break
    if not matched:
        return TraceList(traces=[])
    return TraceList(traces=_summaries(reader, [r[T.TRACE_ID] for r in matched]))


def _summaries(reader: TelemetryReader, ids: list[str]) -> list[TraceSummary]:
    bounds = reader.rows(
        f"SELECT min({B.START}) AS lo, max({B.END}) AS hi FROM {B.TABLE} WHERE {B.TRACE_ID} IN {{ids:Array(String)}}",
        {"ids": ids},
    )
    root = f"({T.PARENT_SPAN_ID} != '', {T.TIMESTAMP})"
    rows = reader.rows(
        f"""SELECT {T.TRACE_ID},
                  argMin({T.SERVICE_NAME}, {root}) AS root_service,
                  argMin({T.SPAN_NAME}, {root}) AS root_name,
                  toUnixTimestamp64Nano(min({T.TIMESTAMP})) AS start_ns,
                  max(toUnixTimestamp64Nano({T.TIMESTAMP}) + {T.DURATION}) AS end_ns,
                  count() AS span_count,
                  countIf({T.STATUS_CODE} = 'Error') AS error_count,
                  arraySort(groupUniqArray({T.SERVICE_NAME})) AS services
           FROM {T.TABLE}
           WHERE {T.TRACE_ID} IN {{ids:Array(String)}}
             AND toDateTime({T.TIMESTAMP}) >= {{lo:DateTime}} AND toDateTime({T.TIMESTAMP}) <= {{hi:DateTime}}
           GROUP BY {T.TRACE_ID}
           ORDER BY start_ns DESC""",
        {"ids": ids, "lo": bounds[0]["lo"], "hi": bounds[0]["hi"]},
    )
    return [
        TraceSummary(
            trace_id=r[T.TRACE_ID],
            root_service_name=r["root_service"],
            root_name=r["root_name"],
            start_time_unix_nano=int(r["start_ns"]),
            duration_ns=int(r["end_ns"]) - int(r["start_ns"]),
            span_count=int(r["span_count"]),
            error_count=int(r["error_count"]),
            service_names=list(r["services"]),
        )
        for r in rows
    ]
