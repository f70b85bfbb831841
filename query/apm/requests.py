"""API performance from request spans: RED, Apdex, availability, status codes, top endpoints, slow requests.

Every figure counts **requests** (:data:`query.apm.semconv.IS_REQUEST`), never all spans; a failed
request is :data:`query.apm.semconv.IS_ERROR` (status ERROR or a 5xx answer). Latencies are in ms.
Apdex with T = ``apdex_t_ms``: (satisfied ≤ T + tolerating ≤ 4T / 2) / requests, estimated from the
duration histogram (buckets of a factor 2^¼, log-linear within the bucket holding T) because T is a
setting. RED figures read the per-minute rollup for whole minutes and raw spans for the edges
(:mod:`query.apm.rollup`): counts are exact, percentiles t-digest estimates.
Availability is 100 × (1 − error rate); it ``meets_sla`` when ≥ the
target. The endpoint of a request is its ``http.route``, or its span name when it has none.
"""

from __future__ import annotations

from typing import Any

from contracts.otel_columns import Traces as T
from contracts.reader import TelemetryReader
from contracts.rollups import Red
from query.apm import rollup
from query.apm import semconv as sc
from query.apm.requests_models import (
    ApiMetrics,
    ApiSettings,
    BucketFigures,
    Endpoint,
    EndpointList,
    RequestFigures,
    ServiceRed,
    SlowRequest,
    SlowRequestList,
    StatusCount,
)
from query.apm.window import ApmWindow
from query.errors import BadRequest
from query.filters import traces_time

SORTS = {"requests": "requests", "p95": "p95", "errors": "errors", "time": "total_ns"}
ROUTE = sc.ROUTE


def _agg(src: rollup.Source) -> str:
    return (f"sum({Red.REQUESTS}) AS requests, sumIf({Red.REQUESTS}, {Red.FAILED} = 1) AS errors, "
            f"{src.quantiles} AS q, sumMap({Red.BUCKETS}) AS hist")


def _where(window: ApmWindow, service: str | None, environment: str | None) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = dict(window.params)
    conds = [traces_time(), sc.IS_REQUEST, *sc.service_filter(params, service, environment)]
    return " AND ".join(conds), params


def _figures(row: dict[str, Any], seconds: float, apdex_t_ns: float) -> RequestFigures:
    requests, errors = int(row["requests"]), int(row["errors"])
    q = [float(x) / 1e6 for x in row["q"]] if requests else [0.0] * 4
    return RequestFigures(requests=requests, errors=errors, error_rate=errors / requests if requests else 0.0,
                          req_per_s=requests / seconds if seconds else 0.0, p50_ms=q[0], p90_ms=q[1],
                          p95_ms=q[2], p99_ms=q[3], apdex=rollup.apdex(row["hist"], apdex_t_ns))


def api_metrics(reader: TelemetryReader, window: ApmWindow, settings: ApiSettings,
                service: str | None = None, environment: str | None = None) -> ApiMetrics:
    """Totals, per-bucket series and status distribution of the requests in ``window``."""
    params: dict[str, Any] = dict(window.params)
    src = rollup.red_source(window, params, service, environment)
    t_ns = settings.apdex_t_ms * 1e6
    # one scan: grouping(t, status) is 3 for the total, 1 per bucket, 2 per status
    rows = reader.rows(
        f"SELECT {rollup.bucket_time()} AS t, {Red.STATUS} AS status, grouping(t, status) AS g, {_agg(src)} "
        f"FROM {src} GROUP BY GROUPING SETS ((), (t), (status)) ORDER BY g, t, status", params)
    empty = {"requests": 0, "errors": 0, "q": [], "hist": {}}
    total = next((r for r in rows if r["g"] == 3), empty)
    buckets = [r for r in rows if r["g"] == 1]
    statuses = [{"status": r["status"], "n": r["requests"]} for r in rows if r["g"] == 2]
    totals = _figures(total, window.seconds, t_ns)
    by_t = {int(r["t"]): r for r in buckets}
    series = []
    for t in window.bucket_starts_s():
        row = by_t.get(t, {"requests": 0, "errors": 0, "q": [], "hist": {}})
        f = _figures(row, window.step_s, t_ns)
        series.append(BucketFigures(**{k: getattr(f, k) for k in f.__struct_fields__}, t=t))
    classes: dict[str, int] = {}
    for r in statuses:
        code = int(r["status"])
        key = f"{code // 100}xx" if code else "none"
        classes[key] = classes.get(key, 0) + int(r["n"])
    availability = 100.0 * (1 - totals.error_rate)
    return ApiMetrics(step_s=window.step_s, apdex_t_ms=settings.apdex_t_ms,
                      sla_target_percent=settings.sla_target_percent, availability_percent=availability,
                      meets_sla=availability >= settings.sla_target_percent, totals=totals, series=series,
                      by_status=[StatusCount(str(int(r["status"])), int(r["n"])) for r in statuses],
                      by_class=[StatusCount(k, v) for k, v in sorted(classes.items())])


def per_service(reader: TelemetryReader, window: ApmWindow, settings: ApiSettings,
                environment: str | None = None) -> list[ServiceRed]:
    """Request RED per service in ``window``, by name."""
    params: dict[str, Any] = dict(window.params)
    src = rollup.red_source(window, params, None, environment)
    rows = reader.rows(f"SELECT {Red.SERVICE_NAME} AS service, {_agg(src)} FROM {src} "
                       "GROUP BY service ORDER BY service", params)
    return [ServiceRed(service=r["service"], figures=_figures(r, window.seconds, settings.apdex_t_ms * 1e6))
            for r in rows]


def top_endpoints(reader: TelemetryReader, window: ApmWindow, sort: str, limit: int,
                  service: str | None = None, environment: str | None = None) -> EndpointList:
    """Requests per (service, method, route), sorted by ``sort`` (:data:`SORTS`) descending."""
    if sort not in SORTS:
        raise BadRequest(f"{sort[:20]!r} is not one of {', '.join(SORTS)}", "sort")
    if not 1 <= limit <= 1000:
        raise BadRequest("must be between 1 and 1000", "limit")
    params: dict[str, Any] = {**window.params, "limit": limit}
    src = rollup.red_source(window, params, service, environment)
    rows = reader.rows(
        f"""SELECT {Red.SERVICE_NAME} AS service, {Red.METHOD} AS method, {Red.ROUTE} AS route,
                  sum({Red.REQUESTS}) AS requests, sumIf({Red.REQUESTS}, {Red.FAILED} = 1) AS errors,
                  {src.quantiles} AS q, q[3] AS p95, sum({Red.DURATION_SUM}) AS total_ns,
                  sum(sum({Red.DURATION_SUM})) OVER () AS all_ns
           FROM {src}
           GROUP BY service, method, route
           ORDER BY {SORTS[sort]} DESC, service, method, route LIMIT {{limit:UInt32}}""", params)
    return EndpointList(sort=sort, endpoints=[
        Endpoint(service=r["service"], method=r["method"], route=r["route"], requests=int(r["requests"]),
                 errors=int(r["errors"]), error_rate=int(r["errors"]) / int(r["requests"]),
                 p50_ms=float(r["q"][0]) / 1e6, p95_ms=float(r["q"][2]) / 1e6, p99_ms=float(r["q"][3]) / 1e6,
                 total_time_ms=int(r["total_ns"]) / 1e6,
                 time_share=int(r["total_ns"]) / int(r["all_ns"]) if int(r["all_ns"]) else 0.0)
        for r in rows])


def slow_requests(reader: TelemetryReader, window: ApmWindow, threshold_ms: float, limit: int,
                  service: str | None = None) -> SlowRequestList:
    """The slowest requests longer than ``threshold_ms``, slowest first."""
    if threshold_ms < 0:
        raise BadRequest("must not be negative", "threshold_ms")
    if not 1 <= limit <= 1000:
        raise BadRequest("must be between 1 and 1000", "limit")
    where, params = _where(window, service, None)
    params.update(threshold_ns=round(threshold_ms * 1e6), limit=limit)
    rows = reader.rows(
        f"""SELECT {T.TRACE_ID} AS trace_id, {T.SPAN_ID} AS span_id, {T.SERVICE_NAME} AS service,
                  {sc.HTTP_METHOD} AS method, {ROUTE} AS route, {sc.HTTP_STATUS_INT} AS status,
                  {T.DURATION} AS duration, formatDateTime({T.TIMESTAMP}, '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC') AS ts
           FROM {T.TABLE} WHERE {where} AND {T.DURATION} > {{threshold_ns:UInt64}}
           ORDER BY {T.DURATION} DESC LIMIT {{limit:UInt32}}""", params)
    return SlowRequestList(threshold_ms=threshold_ms, requests=[
        SlowRequest(trace_id=r["trace_id"], span_id=r["span_id"], service=r["service"], method=r["method"],
                    route=r["route"], status=int(r["status"]), duration_ms=int(r["duration"]) / 1e6,
                    timestamp=r["ts"])
        for r in rows])
