"""``/api/insights/performance``: automated findings, each with severity, evidence and a recommendation.

Rules (thresholds in :class:`~query.apm.insights_models.InsightSettings`); an endpoint is
(service, method, route) as in ``/api/metrics/api/top-endpoints``:

* ``slow_endpoint``: p95 above ``slow_endpoint_ms`` with ≥ ``min_requests`` requests (critical above 4×).
* ``latency_regression``: p95 ≥ ``regression_factor`` × the previous window's p95 and at least 50 ms
  more, both windows with ≥ ``min_requests`` requests.
* ``error_spike``: a service's failed-request rate ≥ ``spike_factor`` × the previous window's and at
  least 5 points more, with ≥ ``min_errors`` failed requests now.
* ``high_variance``: p99 ≥ ``variance_ratio`` × p50 and p99 ≥ 100 ms, with ≥ 2 × ``min_requests``.
* ``n_plus_one``, ``db_dominated``: see :mod:`query.apm.insights_db` (the span-link rollup, whole window).
* ``saturated_host``: see :mod:`query.apm.insights_hosts` (passed in as ``extra`` by the controller).

No finding is made without its evidence; example traces (an endpoint's slowest requests, a service's
latest failed ones) come from the most recent hour of the window.
Findings come most severe first, then by kind.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from contracts.otel_columns import Traces as T
from contracts.reader import TelemetryReader
from query.apm import insights_db, requests
from query.apm import semconv as sc
from query.apm.insights_db import finding_id
from query.apm.insights_models import SEVERITIES, Evidence, Insight, InsightList, InsightSettings
from query.apm.requests_models import ApiSettings, Endpoint
from query.apm.window import ApmWindow
from query.filters import traces_time

MAX_ENDPOINTS = 1000
PARALLEL = 3  # of the reader's 4 handles
PATTERN_WINDOW_S = 3600
NS = 1_000_000_000
Key = tuple[str, str, str]


def _key(e: Endpoint) -> Key:
    return e.service, e.method, e.route


def _name(e: Endpoint) -> str:
    return f"{e.method} {e.route}".strip()


def _recent(window: ApmWindow) -> ApmWindow:
    """The last :data:`PATTERN_WINDOW_S` of ``window`` (all of a shorter one)."""
    return ApmWindow(max(window.start_ns, window.end_ns - PATTERN_WINDOW_S * NS), window.end_ns, window.step_s)


def _slowest(reader: TelemetryReader, window: ApmWindow, e: Endpoint, n: int = 3) -> list[str]:
    params: dict[str, Any] = {**_recent(window).params, "svc": e.service, "method": e.method, "route": e.route,
                              "n": n}
    rows = reader.rows(
        f"SELECT {T.TRACE_ID} AS t FROM {T.TABLE} WHERE {traces_time()} AND {sc.IS_REQUEST} "
        f"AND {T.SERVICE_NAME} = {{svc:String}} AND {sc.HTTP_METHOD} = {{method:String}} "
        f"AND {requests.ROUTE} = {{route:String}} ORDER BY {T.DURATION} DESC LIMIT {{n:UInt32}}", params)
    return [r["t"] for r in rows]


def _endpoint_insight(kind: str, severity: str, e: Endpoint, title: str, evidence: list[Evidence],
                      traces: list[str], recommendation: str) -> Insight:
    return Insight(id=finding_id(kind, *_key(e)), kind=kind, severity=severity, title=title, service=e.service,
                   subject=_name(e), evidence=evidence, trace_ids=traces, endpoints=[_name(e)],
                   recommendation=recommendation)


def _slow(e: Endpoint, s: InsightSettings, traces: Callable[[Endpoint], list[str]]) -> Insight | None:
    if e.requests < s.min_requests or e.p95_ms <= s.slow_endpoint_ms:
        return None
    return _endpoint_insight(
        "slow_endpoint", "critical" if e.p95_ms > 4 * s.slow_endpoint_ms else "warning", e,
        f"{e.service} {_name(e)} is slow: p95 {e.p95_ms:.0f} ms",
        [Evidence("p95", e.p95_ms, "ms"), Evidence("p50", e.p50_ms, "ms"), Evidence("requests", e.requests, "requests"),
         Evidence("time_share", e.time_share, "ratio")], traces(e),
        f"Open the slowest traces of {_name(e)} and shorten the longest span on its critical path; "
        f"its p95 is {e.p95_ms / s.slow_endpoint_ms:.1f}× the {s.slow_endpoint_ms:.0f} ms target.")


def _regression(e: Endpoint, before: Endpoint | None, s: InsightSettings,
                traces: Callable[[Endpoint], list[str]]) -> Insight | None:
    if before is None or min(e.requests, before.requests) < s.min_requests:
        return None
    if e.p95_ms < s.regression_factor * before.p95_ms or e.p95_ms - before.p95_ms < 50:
        return None
    factor = e.p95_ms / before.p95_ms if before.p95_ms else float("inf")
    return _endpoint_insight(
        "latency_regression", "critical" if factor >= 3 else "warning", e,
        f"{e.service} {_name(e)} got slower: p95 {before.p95_ms:.0f} → {e.p95_ms:.0f} ms",
        [Evidence("p95", e.p95_ms, "ms"), Evidence("previous_p95", before.p95_ms, "ms"),
         Evidence("requests", e.requests, "requests"), Evidence("previous_requests", before.requests, "requests")],
        traces(e), "Compare a slow trace of now with one of the previous window and look for what changed "
                   "(a deploy, a new query, a grown table or a slower dependency).")


def _variance(e: Endpoint, s: InsightSettings, traces: Callable[[Endpoint], list[str]]) -> Insight | None:
    if e.requests < 2 * s.min_requests or e.p99_ms < 100 or e.p99_ms < s.variance_ratio * e.p50_ms:
        return None
    return _endpoint_insight(
        "high_variance", "info", e, f"{e.service} {_name(e)} is erratic: p99 {e.p99_ms:.0f} ms vs p50 "
                                    f"{e.p50_ms:.0f} ms",
        [Evidence("p50", e.p50_ms, "ms"), Evidence("p99", e.p99_ms, "ms"),
         Evidence("ratio", e.p99_ms / e.p50_ms if e.p50_ms else 0.0, "ratio"),
         Evidence("requests", e.requests, "requests")], traces(e),
        "Look for lock waits, cold caches, retries or inputs of very different sizes in the slowest traces; "
        "bound the work per request (pagination, timeouts).")


def _error_spikes(reader: TelemetryReader, window: ApmWindow, s: InsightSettings, service: str | None,
                  environment: str | None, examples: bool) -> list[Insight]:
    def rates(w: ApmWindow) -> dict[str, tuple[int, int]]:
        found = requests.per_service(reader, w, ApiSettings(), environment)
        return {r.service: (r.figures.requests, r.figures.errors) for r in found
                if service is None or r.service == service}

    now, before = rates(window), rates(window.previous())
    out = []
    for svc, (n, e) in sorted(now.items()):
        pn, pe = before.get(svc, (0, 0))
        rate, prev = e / n, (pe / pn if pn else 0.0)
        if e < s.min_errors or pn < s.min_requests or rate < s.spike_factor * prev or rate - prev < 0.05:
            continue
        out.append(Insight(
            id=finding_id("error_spike", svc), kind="error_spike", severity="critical" if rate >= 0.2 else "warning",
            title=f"{svc}: failed requests up from {prev:.1%} to {rate:.1%}", service=svc, subject=svc,
            evidence=[Evidence("error_rate", rate, "ratio"), Evidence("previous_error_rate", prev, "ratio"),
                      Evidence("failed_requests", e, "requests"), Evidence("requests", n, "requests")],
            trace_ids=_failed(reader, window, svc) if examples else [], endpoints=[],
            recommendation=f"Open {svc}'s new error issues (/api/metrics/errors/critical) and the failed traces; "
                           "roll back the last change if the spike started with it."))
    return out


def _failed(reader: TelemetryReader, window: ApmWindow, service: str) -> list[str]:
    rows = reader.rows(f"SELECT {T.TRACE_ID} AS t FROM {T.TABLE} WHERE {traces_time()} AND {sc.IS_REQUEST} "
                       f"AND {sc.IS_ERROR} AND {T.SERVICE_NAME} = {{svc:String}} ORDER BY {T.TIMESTAMP} DESC LIMIT 3",
                       {**_recent(window).params, "svc": service})
    return [r["t"] for r in rows]


def performance_insights(reader: TelemetryReader, window: ApmWindow, settings: InsightSettings,
                         service: str | None = None, environment: str | None = None,
                         extra: list[Insight] | None = None, examples: bool = True) -> InsightList:
    """Every finding of ``window`` (compared with :meth:`ApmWindow.previous`), plus ``extra`` ones.

    Every rule reads rollups (``n_plus_one`` and ``db_dominated`` the span-link rollup).
    Without ``examples`` the endpoint and error-spike findings carry no example trace ids (no raw reads).
    """
    prev = window.previous()
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:  # independent reads, at most PARALLEL at a time
        f_now = pool.submit(requests.top_endpoints, reader, window, "time", MAX_ENDPOINTS, service, environment)
        f_before = pool.submit(requests.top_endpoints, reader, prev, "time", MAX_ENDPOINTS, service, environment)
        f_spikes = pool.submit(_error_spikes, reader, window, settings, service, environment, examples)
        f_n1 = pool.submit(insights_db.n_plus_one, reader, settings, window, service, environment)
        endpoints = f_now.result().endpoints
        f_db = pool.submit(insights_db.db_dominated, reader, endpoints, settings, window, service, environment)
        before = {_key(e): e for e in f_before.result().endpoints}
        cache: dict[Key, list[str]] = {}

        def traces(e: Endpoint) -> list[str]:
            if not examples:
                return []
            if _key(e) not in cache:
                cache[_key(e)] = _slowest(reader, window, e)
            return cache[_key(e)]

        found: list[Insight | None] = []
        for e in endpoints:
            found += [_slow(e, settings, traces), _regression(e, before.get(_key(e)), settings, traces),
                      _variance(e, settings, traces)]
        out = [i for i in found if i is not None]
        out += f_spikes.result() + f_n1.result() + f_db.result()
    return InsightList(insights=ordered(out + (extra or [])))


def ordered(found: list[Insight]) -> list[Insight]:
    """Findings most severe first, then by kind, service and subject."""
    return sorted(found, key=lambda i: (-SEVERITIES.index(i.severity), i.kind, i.service, i.subject))
