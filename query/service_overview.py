"""Service overview: span and error counts and p95 span duration per service in a time range."""

from __future__ import annotations

from typing import Any

from contracts.reader import TelemetryReader
from query.filters import TRACE_TIME
from query.timerange import TimeRange


def list_services(reader: TelemetryReader, tr: TimeRange) -> dict[str, Any]:
    rows = reader.rows(
        f"""SELECT ServiceName, count() AS spans, countIf(StatusCode = 'Error') AS errors,
                  quantile(0.95)(Duration) AS p95
           FROM otel_traces
           WHERE {TRACE_TIME}
           GROUP BY ServiceName ORDER BY ServiceName""",
        tr.params,
    )
    return {
        "services": [
            {
                "name": r["ServiceName"],
                "span_count": int(r["spans"]),
                "error_count": int(r["errors"]),
                "p95_duration_ns": int(r["p95"]),
            }
            for r in rows
        ]
    }
