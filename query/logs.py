"""Log search: newest first, filters on service, severity range, text, attributes and trace id.

Filters (:func:`conditions`, shared with :mod:`query.logs_volume`): ``severity_min``/``severity_max``
are 0-24 or a name of :data:`SEVERITY_NAMES` and bound ``SeverityNumber`` inclusively (a name is
its range's lowest number for ``severity_min`` and its highest for ``severity_max``: ``error`` is
17 or 20, so ``severity_min=error&severity_max=error`` is every ERROR level); ``q`` is a case-insensitive
substring of the body or of any log attribute's value (e.g. ``exception.message``,
``exception.type``); each ``attr=key:value`` must equal a log or resource attribute. Every value
reaches SQL as a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.otel_columns import Logs as L
from contracts.reader import TelemetryReader
from query.errors import BadRequest
from query.filters import attr_conditions, logs_time, parse_attrs
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
    attrs: tuple[str, ...] = ()
    severity_max: str | None = None


def severity_number(value: str, parameter: str = "severity_min", upper: bool = False) -> int:
    """``0``-``24`` or a name of :data:`SEVERITY_NAMES` as a severity number; else 400 naming ``parameter``.

    A name is its range's lowest number, or with ``upper`` its highest (``error`` → 17 or 20).
    """
    if value.isdigit() and 0 <= int(value) <= 24:
        return int(value)
    if value.lower() in SEVERITY_NAMES:
        return SEVERITY_NAMES[value.lower()] + (3 if upper else 0)
    raise BadRequest(f"{value[:40]!r}: use 0-24 or one of {', '.join(SEVERITY_NAMES)}", parameter)


def conditions(q: LogQuery, params: dict[str, Any]) -> list[str]:
    """The time condition and one condition per filter of ``q``, binding their values into ``params``.

    Raises:
        BadRequest: naming ``severity_min``/``severity_max`` (malformed, or max below min), ``attr``
            or ``trace_id``.
    """
    conds = [logs_time()]
    if q.service:
        conds.append(f"{L.SERVICE_NAME} = {{service:String}}")
        params["service"] = q.service
    low = severity_number(q.severity_min) if q.severity_min else None
    high = severity_number(q.severity_max, "severity_max", upper=True) if q.severity_max else None
    if low is not None:
        conds.append(f"{L.SEVERITY_NUMBER} >= {{sev:UInt8}}")
        params["sev"] = low
    if high is not None:
        if low is not None and high < low:
            raise BadRequest(f"{high} is below severity_min {low}", "severity_max")
        conds.append(f"{L.SEVERITY_NUMBER} <= {{sev_max:UInt8}}")
        params["sev_max"] = high
    if q.q:
        conds.append(f"(positionCaseInsensitiveUTF8({L.BODY}, {{q:String}}) > 0 OR arrayExists(v -> "
                     f"positionCaseInsensitiveUTF8(v, {{q:String}}) > 0, mapValues({L.LOG_ATTRIBUTES})))")
        params["q"] = q.q
    conds += attr_conditions(parse_attrs(list(q.attrs)), (L.LOG_ATTRIBUTES, L.RESOURCE_ATTRIBUTES), params)
    if q.trace_id:
        conds.append(f"{L.TRACE_ID} = {{tid:String}}")
        params["tid"] = normalise_trace_id(q.trace_id, "trace_id")
    return conds


def search_logs(reader: TelemetryReader, q: LogQuery, tr: TimeRange) -> LogList:
    """Log records in ``tr`` matching every filter, newest first."""
    if not 1 <= q.limit <= MAX_LIMIT:
        raise BadRequest(f"must be between 1 and {MAX_LIMIT}", "limit")
    params: dict[str, Any] = dict(tr.params)
    conds = conditions(q, params)
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
