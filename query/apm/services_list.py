"""Service overview per service in a time range: every span's counts (compatibility) and request figures.

Request figures follow the counting rule of :mod:`query.apm.semconv`: ``request_count`` counts REQUEST
spans, ``failed_request_count`` those that failed (status ERROR or 5xx), ``p95_request_ns`` is over
requests only (from the RED rollup); ``span_count``/``error_count``/``p95_duration_ns`` still cover
every span. A service whose spans lie in ``tr`` only partly inside the rollup's widened minutes keeps
its span figures exact.
"""

from __future__ import annotations

from contracts.otel_columns import Traces as T
from contracts.reader import TelemetryReader
from contracts.rollups import Red
from query.apm import rollup
from query.apm.window import ApmWindow
from query.filters import traces_time
from query.models import ServiceList, ServiceSummary
from query.timerange import TimeRange


def list_services(reader: TelemetryReader, tr: TimeRange) -> ServiceList:
    """Every service with spans in ``tr``, by name.

    Span figures are exact over ``tr`` (raw spans, no attribute read); request figures come from the
    RED rollup like ``/api/metrics/api`` (:mod:`query.apm.rollup`: a range of 10 minutes or more is
    widened to whole minutes, a shorter one reads raw spans exactly; p95 a t-digest estimate).
    """
    spans = reader.rows(
        f"""SELECT {T.SERVICE_NAME} AS service, count() AS spans, countIf({T.STATUS_CODE} = 'Error') AS errors,
                  quantile(0.95)({T.DURATION}) AS p95
           FROM {T.TABLE} WHERE {traces_time()} GROUP BY service ORDER BY service""",
        tr.params,
    )
    window = ApmWindow(tr.start_ns, tr.end_ns, 60)
    params: dict[str, object] = dict(window.params)
    src = rollup.red_source(window, params)
    requests = {r["service"]: r for r in reader.rows(
        f"SELECT {Red.SERVICE_NAME} AS service, sum({Red.REQUESTS}) AS requests, "
        f"sumIf({Red.REQUESTS}, {Red.FAILED} = 1) AS failed, arrayElement({src.quantiles}, 3) AS p95_requests "
        f"FROM {src} GROUP BY service", params)}
    none = {"requests": 0, "failed": 0, "p95_requests": 0}
    return ServiceList(services=[
        ServiceSummary(name=r["service"], span_count=int(r["spans"]), error_count=int(r["errors"]),
                       p95_duration_ns=int(r["p95"]), request_count=int(req["requests"]),
                       failed_request_count=int(req["failed"]),
                       p95_request_ns=int(req["p95_requests"] or 0) if int(req["requests"]) else 0)
        for r in spans for req in [requests.get(r["service"], none)]
    ])
