"""The ``dashboard-data`` live snapshot: what the overview page refreshes from the ``/ws`` feed.

:func:`dashboard_snapshot` reads the last :data:`WINDOW_S` seconds: per service requests and errors
(request-level, see :mod:`query.apm.semconv`) and the whole's totals. It is JSON-serialisable. The
``/api/dashboard`` document, once built, is the richer one; this snapshot stays cheap enough to
publish every few seconds.
"""

from __future__ import annotations

import time
from typing import Any

from contracts.otel_columns import Traces as T
from contracts.reader import TelemetryReader
from query.apm.semconv import IS_ERROR, IS_REQUEST
from query.filters import traces_time
from query.timerange import NS

WINDOW_S = 300


def dashboard_snapshot(reader: TelemetryReader, now_ns: int | None = None) -> dict[str, Any]:
    """Requests, failed requests and p95 request latency per service over the last :data:`WINDOW_S` s."""
    end = time.time_ns() if now_ns is None else now_ns
    params = {"start_ns": end - WINDOW_S * NS, "end_ns": end}
    rows = reader.rows(
        f"""SELECT {T.SERVICE_NAME} AS service, count() AS requests, countIf({IS_ERROR}) AS errors,
                  quantile(0.95)({T.DURATION}) AS p95
           FROM {T.TABLE}
           WHERE {traces_time()} AND {IS_REQUEST}
           GROUP BY service ORDER BY service""",
        params,
    )
    services = [{"service": r["service"], "requests": int(r["requests"]), "errors": int(r["errors"]),
                 "p95_ms": round(float(r["p95"]) / 1e6, 3)} for r in rows]
    requests = sum(s["requests"] for s in services)
    errors = sum(s["errors"] for s in services)
    return {"generated_at_unix_nano": end, "window_seconds": WINDOW_S, "requests": requests, "errors": errors,
            "error_rate": errors / requests if requests else 0.0, "services": services}
