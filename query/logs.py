"""Log search: newest first, filters on service, minimum severity, body text and trace id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.reader import TelemetryReader
from query.errors import BadRequest
from query.timerange import TimeRange
from query.traces import normalise_trace_id

SEVERITY_NAMES = {"trace": 1, "debug": 5, "info": 9, "warn": 13, "warning": 13, "error": 17, "fatal": 21}


@dataclass(frozen=True)
class LogQuery:
    service: str | None = None
    severity_min: str | None = None
    q: str | None = None
    trace_id: str | None = None
    limit: int = 100


def _severity(value: str) -> int:
    if value.isdigit() and 0 <= int(value) <= 24:
        return int(value)
    if value.lower() in SEVERITY_NAMES:
        return SEVERITY_NAMES[value.lower()]
    raise BadRequest(f"severity_min {value!r}: use 0-24 or one of {', '.join(SEVERITY_NAMES)}")


def search_logs(reader: TelemetryReader, q: LogQuery, tr: TimeRange) -> dict[str, Any]:
    if not 1 <= q.limit <= 5000:
        raise BadRequest("limit must be between 1 and 5000")
    params: dict[str, Any] = dict(tr.params)
    conds = [
        "Timestamp >= fromUnixTimestamp64Nano({start_ns:Int64})",
        "Timestamp <= fromUnixTimestamp64Nano({end_ns:Int64})",
        "TimestampTime >= toDateTime(fromUnixTimestamp64Nano({start_ns:Int64}))",
    ]
    if q.service:
        conds.append("ServiceName = {service:String}")
        params["service"] = q.service
    if q.severity_min:
        conds.append("SeverityNumber >= {sev:UInt8}")
        params["sev"] = _severity(q.severity_min)
    if q.q:
        conds.append("positionCaseInsensitiveUTF8(Body, {q:String}) > 0")
        params["q"] = q.q
    if q.trace_id:
        conds.append("TraceId = {tid:String}")
        params["tid"] = normalise_trace_id(q.trace_id)
    params["limit"] = q.limit
    rows = reader.rows(
        f"""SELECT toUnixTimestamp64Nano(Timestamp) AS ts, SeverityText, SeverityNumber, Body, ServiceName,
                   TraceId, SpanId, LogAttributes, ResourceAttributes
            FROM otel_logs WHERE {' AND '.join(conds)}
            ORDER BY Timestamp DESC LIMIT {{limit:UInt32}}""",
        params,
    )
    return {
        "logs": [
            {
                "time_unix_nano": int(r["ts"]),
                "severity_text": r["SeverityText"],
                "severity_number": int(r["SeverityNumber"]),
                "body": r["Body"],
                "service_name": r["ServiceName"],
                "trace_id": r["TraceId"],
                "span_id": r["SpanId"],
                "attributes": dict(r["LogAttributes"]),
                "resource_attributes": dict(r["ResourceAttributes"]),
            }
            for r in rows
        ]
    }
