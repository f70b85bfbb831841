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

from contracts.reader import TelemetryReader
from query.errors import BadRequest, NotFound
from query.filters import TRACE_TIME, attr_conditions, parse_attrs
from query.timerange import TimeRange

_TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")
KIND_TO_OTLP = {
    "Unspecified": "SPAN_KIND_UNSPECIFIED",
    "Internal": "SPAN_KIND_INTERNAL",
    "Server": "SPAN_KIND_SERVER",
    "Client": "SPAN_KIND_CLIENT",
    "Producer": "SPAN_KIND_PRODUCER",
    "Consumer": "SPAN_KIND_CONSUMER",
}
STATUS_TO_OTLP = {"Unset": "STATUS_CODE_UNSET", "Ok": "STATUS_CODE_OK", "Error": "STATUS_CODE_ERROR"}
STATUS_FILTER = {"error": "Error", "ok": "Ok", "unset": "Unset"}

_SPAN_COLUMNS = """
    TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
    toUnixTimestamp64Nano(Timestamp) AS start_ns, Duration, StatusCode, StatusMessage,
    SpanAttributes, ResourceAttributes, ScopeName, TraceState,
    arrayMap(t -> toUnixTimestamp64Nano(t), `Events.Timestamp`) AS ev_ts, `Events.Name` AS ev_name,
    `Events.Attributes` AS ev_attrs,
    `Links.TraceId` AS l_trace, `Links.SpanId` AS l_span, `Links.Attributes` AS l_attrs
"""


def normalise_trace_id(trace_id: str) -> str:
    if not _TRACE_ID.match(trace_id):
        raise BadRequest(f"trace id {trace_id[:80]!r} must be 32 hex characters")
    return trace_id.lower()


def _span(r: dict[str, Any]) -> dict[str, Any]:
    start = int(r["start_ns"])
    return {
        "trace_id": r["TraceId"],
        "span_id": r["SpanId"],
        "parent_span_id": r["ParentSpanId"],
        "name": r["SpanName"],
        "kind": KIND_TO_OTLP.get(r["SpanKind"], r["SpanKind"]),
        "service_name": r["ServiceName"],
        "start_time_unix_nano": start,
        "end_time_unix_nano": start + int(r["Duration"]),
        "duration_ns": int(r["Duration"]),
        "status_code": STATUS_TO_OTLP.get(r["StatusCode"], r["StatusCode"]),
        "status_message": r["StatusMessage"],
        "trace_state": r["TraceState"],
        "attributes": dict(r["SpanAttributes"]),
        "resource_attributes": dict(r["ResourceAttributes"]),
        "scope_name": r["ScopeName"],
        "events": [
            {"time_unix_nano": int(t), "name": n, "attributes": dict(a)}
            for t, n, a in zip(r["ev_ts"], r["ev_name"], r["ev_attrs"], strict=False)
        ],
        "links": [
            {"trace_id": t, "span_id": s, "attributes": dict(a)}
            for t, s, a in zip(r["l_trace"], r["l_span"], r["l_attrs"], strict=False)
        ],
    }


def get_trace(reader: TelemetryReader, trace_id: str) -> dict[str, Any]:
    tid = normalise_trace_id(trace_id)
    # One statement: the scalar subquery reads the trace's time bounds from the trace-id table (its
    # primary key) and becomes a constant for index analysis. The bounds are on the sorting key's own
    # expression (toDateTime(Timestamp)) so the primary index prunes granules inside each
    # (ServiceName, SpanName) range, not only whole partitions. An unknown id has no bounds (min/max of
    # nothing is 1970) and matches no row.
    rows = reader.rows(
        "WITH (SELECT (min(Start), max(End)) FROM otel_traces_trace_id_ts WHERE TraceId = {tid:String}) AS b "
        f"SELECT {_SPAN_COLUMNS} FROM otel_traces WHERE TraceId = {{tid:String}} "
        "AND toDateTime(Timestamp) >= b.1 AND toDateTime(Timestamp) <= b.2 "
        "ORDER BY Timestamp, SpanId LIMIT 1 BY SpanId, Timestamp",
        {"tid": tid},
    )
    if not rows:
        raise NotFound(f"trace {tid} not found")
    return {"trace_id": tid, "spans": [_span(r) for r in rows]}


@dataclass(frozen=True)
class TraceQuery:
    service: str | None = None
    name: str | None = None
    status: str | None = None
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    attrs: tuple[str, ...] = ()
    limit: int = 20


def _resource_key_absent(reader: TelemetryReader, tr: TimeRange) -> Callable[[str, str], bool]:
    """``skip`` for attr filters: True for ResourceAttributes when no resource in range has the key
    (answered from the mapKeys bloom filter, so it costs little when the key is absent)."""

    def skip(column: str, key: str) -> bool:
        if column != "ResourceAttributes":
            return False
        rows = reader.rows(
            f"SELECT count() AS n FROM (SELECT 1 FROM otel_traces WHERE {TRACE_TIME} "
            "AND mapContains(ResourceAttributes, {key:String}) LIMIT 1)",
            {**tr.params, "key": key},
        )
        return not rows[0]["n"]

    return skip


def _windows(tr: TimeRange) -> list[TimeRange]:
    """Newest-first search windows ending at ``tr.end``: 1/96, 1/24, 1/4 of the range, then all of it.
    A selective or recent match is found after scanning a sliver; a rare one costs one extra full
    scan at most (each step's bloom filters skip most granules)."""
    span = tr.end_ns - tr.start_ns
    fractions = (96, 24, 4) if span > 900 * 1_000_000_000 else ()
    return [TimeRange(tr.end_ns - span // f, tr.end_ns) for f in fractions] + [tr]


def search_traces(reader: TelemetryReader, q: TraceQuery, tr: TimeRange) -> dict[str, Any]:
    """Traces with at least one span matching every filter, newest first. Statements: the newest
    matching trace ids (over growing windows until ``limit`` are found), their exact time bounds from
    ``otel_traces_trace_id_ts``, then whole-trace summaries for just those ids and bounds."""
    if not 1 <= q.limit <= 1000:
        raise BadRequest("limit must be between 1 and 1000")
    params: dict[str, Any] = dict(tr.params)
    conds = [TRACE_TIME]
    if q.service:
        conds.append("ServiceName = {service:String}")
        params["service"] = q.service
    if q.name:
        conds.append("SpanName = {name:String}")
        params["name"] = q.name
    if q.status:
        if q.status.lower() not in STATUS_FILTER:
            raise BadRequest("status must be one of error, ok, unset")
        conds.append("StatusCode = {status:String}")
        params["status"] = STATUS_FILTER[q.status.lower()]
    for bound, op, key in ((q.min_duration_ms, ">=", "mind"), (q.max_duration_ms, "<=", "maxd")):
        if bound is not None:
            if bound < 0:
                raise BadRequest("durations must be >= 0")
            conds.append(f"Duration {op} {{{key}:UInt64}}")
            params[key] = int(bound * 1_000_000)
    attrs = parse_attrs(list(q.attrs))
    if attrs:
        conds += attr_conditions(attrs, ("SpanAttributes", "ResourceAttributes"), params,
                                 _resource_key_absent(reader, tr))
    params["limit"] = q.limit
    matched: list[dict[str, Any]] = []
    for window in _windows(tr):
        matched = reader.rows(
            f"""SELECT TraceId, toUnixTimestamp64Nano(min(Timestamp)) AS first_ns FROM otel_traces
                WHERE {' AND '.join(conds)} AND TraceId != ''
                GROUP BY TraceId ORDER BY first_ns DESC LIMIT {{limit:UInt32}}""",
            {**params, **window.params},
        )
        if len(matched) >= q.limit:
            break
    if not matched:
        return {"traces": []}
    ids = [r["TraceId"] for r in matched]
    bounds = reader.rows(
        "SELECT min(Start) AS lo, max(End) AS hi FROM otel_traces_trace_id_ts WHERE TraceId IN {ids:Array(String)}",
        {"ids": ids},
    )
    rows = reader.rows(
        """SELECT TraceId,
                  argMin(ServiceName, (ParentSpanId != '', Timestamp)) AS root_service,
                  argMin(SpanName, (ParentSpanId != '', Timestamp)) AS root_name,
                  toUnixTimestamp64Nano(min(Timestamp)) AS start_ns,
                  max(toUnixTimestamp64Nano(Timestamp) + Duration) AS end_ns,
                  count() AS span_count,
                  countIf(StatusCode = 'Error') AS error_count,
                  arraySort(groupUniqArray(ServiceName)) AS services
           FROM otel_traces
           WHERE TraceId IN {ids:Array(String)}
             AND toDateTime(Timestamp) >= {lo:DateTime} AND toDateTime(Timestamp) <= {hi:DateTime}
           GROUP BY TraceId
           ORDER BY start_ns DESC""",
        {"ids": ids, "lo": bounds[0]["lo"], "hi": bounds[0]["hi"]},
    )
    return {
        "traces": [
            {
                "trace_id": r["TraceId"],
                "root_service_name": r["root_service"],
                "root_name": r["root_name"],
                "start_time_unix_nano": int(r["start_ns"]),
                "duration_ns": int(r["end_ns"]) - int(r["start_ns"]),
                "span_count": int(r["span_count"]),
                "error_count": int(r["error_count"]),
                "service_names": list(r["services"]),
            }
            for r in rows
        ]
    }
