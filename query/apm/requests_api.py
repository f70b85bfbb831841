"""``/api/metrics/api*``: the API-performance endpoints (see :mod:`query.apm.requests`).

Dependencies: ``reader`` and ``freshness`` from the app, ``window`` (:data:`query.apm.window.WINDOW`),
and ``api_settings`` (:class:`query.apm.requests_models.ApiSettings`) from the composition root (without
it, :data:`DEFAULT_SETTINGS`).
"""

from __future__ import annotations

from typing import Annotated, TypeVar

import msgspec
from litestar import Controller, Response, get
from litestar.params import Dependency, Parameter

from contracts.signals import Signal
from query.apm import requests
from query.apm.requests_models import ApiMetrics, ApiSettings, EndpointList, SlowRequestList
from query.apm.window import WINDOW, ApmWindow
from query.controllers import Environment, Reader, Service, answer, read_meta
from query.models import ReadMeta
from query.openapi import FRESHNESS_HEADER, RESPONSES

Settings = Annotated[ApiSettings, Dependency(skip_validation=True)]
Limit = Annotated[int, Parameter(description="rows (1–1000)")]
B = TypeVar("B", bound=msgspec.Struct)


DEFAULT_SETTINGS = ApiSettings()

class ApiPerformanceController(Controller):
    """Request throughput, errors, latency, Apdex, availability, top endpoints and slow requests."""

    path = "/api/metrics/api"
    tags = ["apm"]
    response_headers = [FRESHNESS_HEADER]
    dependencies = {"meta": read_meta(Signal.TRACES), **WINDOW}

    @get("/", sync_to_thread=True, summary="API performance", responses=RESPONSES)
    def overview(self, reader: Reader, meta: ReadMeta, window: ApmWindow, api_settings: Settings = DEFAULT_SETTINGS,
                 service: Service = None, environment: Environment = None) -> Response[ApiMetrics]:
        """Totals and per-bucket series of requests, errors, p50–p99, Apdex; availability; status codes."""
        return answer(requests.api_metrics(reader, window, api_settings, service, environment), meta)

    @get("/top-endpoints", sync_to_thread=True, summary="Top endpoints", responses=RESPONSES)
    def top(self, reader: Reader, meta: ReadMeta, window: ApmWindow, service: Service = None,
            environment: Environment = None,
            sort: Annotated[str, Parameter(description="requests, p95, errors or time")] = "requests",
            limit: Limit = 20) -> Response[EndpointList]:
        """Requests, errors, p50/p95/p99 and share of request time per (service, method, route)."""
        return answer(requests.top_endpoints(reader, window, sort, limit, service, environment), meta)

    @get("/slow-requests", sync_to_thread=True, summary="Slow requests", responses=RESPONSES)
    def slow(self, reader: Reader, meta: ReadMeta, window: ApmWindow, api_settings: Settings = DEFAULT_SETTINGS,
             service: Service = None,
             threshold_ms: Annotated[float | None, Parameter(description="default: slow_request_ms")] = None,
             limit: Limit = 50) -> Response[SlowRequestList]:
        """The slowest individual requests above the threshold."""
        threshold = api_settings.slow_request_ms if threshold_ms is None else threshold_ms
        return answer(requests.slow_requests(reader, window, threshold, limit, service), meta)
