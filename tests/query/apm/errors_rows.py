"""Hand-made spans with exception events and error logs for the error-tracking tests (chDB rows)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

SPAN_COLUMNS = ["Timestamp", "TraceId", "SpanId", "ParentSpanId", "SpanName", "SpanKind", "ServiceName",
                "SpanAttributes", "Duration", "StatusCode", "Events.Timestamp", "Events.Name", "Events.Attributes"]
LOG_COLUMNS = ["Timestamp", "TraceId", "SpanId", "SeverityNumber", "SeverityText", "ServiceName", "Body",
               "LogAttributes"]
NOW = datetime.now(UTC).replace(microsecond=0)
STACK = ('Traceback (most recent call last):\n  File "/app/shop/pay.py", line 10, in charge\n    x()\n'
         '  File "/app/shop/gateway.py", line 20, in call\n    raise E\n')


def ns(at: datetime) -> int:
    return int(at.timestamp() * 1e9)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def request(svc: str, route: str, at: datetime, status: int = 200,
            exceptions: list[tuple[str, str]] | None = None, stack: str = STACK,
            kind: str = "Server") -> tuple[list[Any], str, str]:
    """One span (server by default) with an ``exception`` event per (type, message), 1 ms apart."""
    trace, sid = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    excs = exceptions or []
    row = [at, trace, sid, "", f"POST {route}", kind, svc,
           {"http.request.method": "POST", "http.route": route, "http.response.status_code": str(status)},
           50_000_000, "Error" if status >= 500 or excs else "Unset",
           [at + timedelta(milliseconds=1 + i) for i in range(len(excs))], ["exception"] * len(excs),
           [{"exception.type": t, "exception.message": m, "exception.stacktrace": stack} for t, m in excs]]
    return row, trace, sid


def log(svc: str, at: datetime, body: str, severity: int = 17, trace: str = "", span: str = "",
        attrs: dict[str, str] | None = None) -> list[Any]:
    return [at, trace, span, severity, "ERROR" if severity >= 17 else "INFO", svc, body, attrs or {}]


def insert(ch: Client, spans: list[list[Any]], logs: list[list[Any]] | None = None) -> None:
    if spans:
        ch.insert("otel_traces", spans, column_names=SPAN_COLUMNS)
    if logs:
        ch.insert("otel_logs", logs, column_names=LOG_COLUMNS)
