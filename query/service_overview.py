"""Service overview: span and error counts and p95 span duration per service in a time range."""

from __future__ import annotations

from contracts.otel_columns import Traces as T
from contracts.reader import TelemetryReader
from query.filters import traces_time
from query.models import ServiceList, ServiceSummary
from query.timerange import TimeRange


def list_services(reader: TelemetryReader, tr: TimeRange) -> ServiceList:
    """Every service with spans in ``tr``, by name."""
    rows = reader.rows(
        f"""SELECT {T.SERVICE_NAME}, count() AS spans, countIf({T.STATUS_CODE} = 'Error') AS errors,
                  quantile(0.95)({T.DURATION}) AS p95
           FROM {T.TABLE}
           WHERE {traces_time()}
           GROUP BY {T.SERVICE_NAME} ORDER BY {T.SERVICE_NAME}""",
        tr.params,
    )
    return ServiceList(services=[
        ServiceSummary(name=r[T.SERVICE_NAME], span_count=int(r["spans"]), error_count=int(r["errors"]),
                       p95_duration_ns=int(r["p95"]))
        for r in rows
    ])
