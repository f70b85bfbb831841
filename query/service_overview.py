"""Service overview per service in a time range: every span's counts (compatibility) and request figures.

Request figures follow the counting rule of :mod:`query.apm.semconv`: ``request_count`` counts REQUEST
spans, ``failed_request_count`` those that failed (status ERROR or 5xx), ``p95_request_ns`` is over
requests only; ``span_count``/``error_count``/``p95_duration_ns`` still cover every span.
"""

from __future__ import annotations

from contracts.otel_columns import Traces as T
from contracts.reader import TelemetryReader
from contracts.semconv_sql import IS_ERROR, IS_REQUEST
from query.filters import traces_time
from query.models import ServiceList, ServiceSummary
from query.timerange import TimeRange


def list_services(reader: TelemetryReader, tr: TimeRange) -> ServiceList:
    """Every service with spans in ``tr``, by name."""
    rows = reader.rows(
        f"""SELECT {T.SERVICE_NAME}, count() AS spans, countIf({T.STATUS_CODE} = 'Error') AS errors,
                  quantile(0.95)({T.DURATION}) AS p95, countIf({IS_REQUEST}) AS requests,
                  countIf({IS_REQUEST} AND {IS_ERROR}) AS failed,
                  if(requests = 0, 0, quantileIf(0.95)({T.DURATION}, {IS_REQUEST})) AS p95_requests
           FROM {T.TABLE}
           WHERE {traces_time()}
           GROUP BY {T.SERVICE_NAME} ORDER BY {T.SERVICE_NAME}""",
        tr.params,
    )
    return ServiceList(services=[
        ServiceSummary(name=r[T.SERVICE_NAME], span_count=int(r["spans"]), error_count=int(r["errors"]),
                       p95_duration_ns=int(r["p95"]), request_count=int(r["requests"]),
                       failed_request_count=int(r["failed"]),
                       p95_request_ns=int(r["p95_requests"]))
        for r in rows
    ])
