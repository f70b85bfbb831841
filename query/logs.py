"""Log search: newest first, filters on service, minimum severity, body text and trace id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.otel_columns import Logs as L
from contracts.reader import TelemetryReader
from query.errors import BadRequest
from query.filters import logs_time
from query.models import LogList, LogRecord
from query.timerange import TimeRange
from query.traces import normalise_trace_id

SEVERITY_NAMES = {"trace": 1, "debug": 5, "info": 9, "warn": 13, "warning": 13, "error": 17, "fatal": 21}
MAX_LIMIT = 5000


@dataclass(frozen=True)
class LogQuery:
    """The filters of ``/api/logs``."""

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
    raise BadRequest(f"{value[:40]!r}: use 0-24 or one of {', '.join(SEVERITY_NAMES)}", "severity_min")


def _conditions(q: LogQuery, params: dict[str, Any]) -> list[str]:
    conds = [logs_time()]
    if q.service:
        conds.append(f"{L.SERVICE_NAME} = {{service:String}}")
        params["service"] = q.service
    if q.severity_min:
        conds.append(f"{L.SEVERITY_NUMBER} >= {{sev:UInt8}}")
        params["sev"] = _severity(q.severity_min)
    if q.q:
        conds.append(f"positionCaseInsensitiveUTF8({L.BODY}, {{q:String}}) > 0")
        params["q"] = q.q
    if q.trace_id:
        conds.append(f"{L.TRACE_ID} = {{tid:String}}")
        params["tid"] = normalise_trace_id(q.trace_id, "trace_id")
    return conds


def search_logs(reader: TelemetryReader, q: LogQuery, tr: TimeRange) -> LogList:
    """Log records in ``tr`` matching every filter, newest first."""
    if not 1 <= q.limit <= MAX_LIMIT:
        raise BadRequest(f"must be between 1 and {MAX_LIMIT}", "limit")
    params: dict[str, Any] = dict(tr.params)
    conds = _conditions(q, params)
    params["limit"] = q.limit
    rows = reader.rows(
        f"""SELECT toUnixTimestamp64Nano({L.TIMESTAMP}) AS ts, {L.SEVERITY_TEXT}, {L.SEVERITY_NUMBER}, {L.BODY},
                   {L.SERVICE_NAME}, {L.TRACE_ID}, {L.SPAN_ID}, {L.LOG_ATTRIBUTES}, {L.RESOURCE_ATTRIBUTES}
            FROM {L.TABLE} WHERE {' AND '.join(conds)}
            ORDER BY {L.TIMESTAMP} DESC LIMIT {{limit:UInt32}}""",
        params,
    )
    return LogList(logs=[
        LogRecord(
            time_unix_nano=int(r["ts"]),
            severity_text=r[L.SEVERITY_TEXT],
            severity_number=int(r[L.SEVERITY_NUMBER]),
            body=r[L.BODY],
            service_name=r[L.SERVICE_NAME],
            trace_id=r[L.TRACE_ID],
            span_id=r[L.SPAN_ID],
            attributes=dict(r[L.LOG_ATTRIBUTES]),
            resource_attributes=dict(r[L.RESOURCE_ATTRIBUTES]),
        )
        for r in rows
    ])
