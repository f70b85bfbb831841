"""Litestar query API: thin controllers over the query services.

Every error answer is JSON ``{"error": "...", "detail": ...}`` with the right 4xx/5xx status. Time
parameters: ``start``/``end`` (RFC 3339 or unix seconds) or ``range`` (default 1h). OpenAPI at
``/schema``. Handlers are synchronous and run in Litestar's thread pool (storage calls block).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Litestar, Request, Response, get
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.params import Parameter
from litestar.static_files import create_static_files_router

from contracts.reader import TelemetryReader
from query import logs, metric_points, metrics, services, traces
from query.errors import BadRequest, NotFound
from query.timerange import resolve

log = logging.getLogger(__name__)

HealthCheck = Callable[[], dict[str, Any]]
Start = Annotated[str | None, Parameter(description="RFC 3339 or unix seconds")]
End = Annotated[str | None, Parameter(description="RFC 3339 or unix seconds")]
Range = Annotated[str | None, Parameter(query="range", description="e.g. 15m, 1h, 24h, 7d (default 1h)")]
Attrs = Annotated[list[str] | None, Parameter(query="attr", description="key:value, repeatable")]


def _reader(request: Request) -> TelemetryReader:
    return request.app.state.reader  # type: ignore[no-any-return]


class HealthController(Controller):
    path = "/api/health"

    @get("/", sync_to_thread=True)
    def health(self, request: Request) -> Response[dict[str, Any]]:
        report = request.app.state.health()
        return Response(report, status_code=200 if report["status"] == "ok" else 503)


class TraceController(Controller):
    path = "/api/traces"

    @get("/{trace_id:str}", sync_to_thread=True)
    def get_trace(self, request: Request, trace_id: str) -> dict[str, Any]:
        return traces.get_trace(_reader(request), trace_id)

    @get("/", sync_to_thread=True)
    def search(
        self,
        request: Request,
        service: str | None = None,
        name: str | None = None,
        status: str | None = None,
        min_duration_ms: float | None = None,
        max_duration_ms: float | None = None,
        attr: Attrs = None,
        start: Start = None,
        end: End = None,
        range_: Range = None,
        limit: int = 20,
    ) -> dict[str, Any]:
        q = traces.TraceQuery(service, name, status, min_duration_ms, max_duration_ms, tuple(attr or ()), limit)
        return traces.search_traces(_reader(request), q, resolve(start, end, range_))


class LogController(Controller):
    path = "/api/logs"

    @get("/", sync_to_thread=True)
    def search(
        self,
        request: Request,
        service: str | None = None,
        severity_min: str | None = None,
        q: str | None = None,
        trace_id: str | None = None,
        start: Start = None,
        end: End = None,
        range_: Range = None,
        limit: int = 100,
    ) -> dict[str, Any]:
        query = logs.LogQuery(service, severity_min, q, trace_id, limit)
        return logs.search_logs(_reader(request), query, resolve(start, end, range_))


class ServiceController(Controller):
    path = "/api/services"

    @get("/", sync_to_thread=True)
    def list(self, request: Request, start: Start = None, end: End = None, range_: Range = None) -> dict[str, Any]:
        return services.list_services(_reader(request), resolve(start, end, range_))


class MetricController(Controller):
    path = "/api/metrics"

    @get("/names", sync_to_thread=True)
    def names(self, request: Request, start: Start = None, end: End = None, range_: Range = None) -> dict[str, Any]:
        return metrics.metric_names(_reader(request), resolve(start, end, range_))

    @get("/query", sync_to_thread=True)
    def query(
        self,
        request: Request,
        name: str,
        service: str | None = None,
        attr: Attrs = None,
        agg: str = "avg",
        group_by: str | None = None,
        step: str = "60s",
        start: Start = None,
        end: End = None,
        range_: Range = None,
    ) -> dict[str, Any]:
        keys = tuple(k.strip() for k in (group_by or "").split(",") if k.strip())
        q = metrics.MetricQuery(name, service, tuple(attr or ()), agg, keys, step)
        return metrics.query_metric(_reader(request), q, resolve(start, end, range_))

    @get("/points", sync_to_thread=True)
    def points(
        self,
        request: Request,
        name: str,
        service: str | None = None,
        attr: Attrs = None,
        limit: int = 1000,
        start: Start = None,
        end: End = None,
        range_: Range = None,
    ) -> dict[str, Any]:
        tr = resolve(start, end, range_)
        return metric_points.metric_points(_reader(request), name, tr, service, tuple(attr or ()), limit)


def _error(status: int, error: str, detail: Any = None) -> Response[dict[str, Any]]:
    return Response({"error": error, "detail": detail}, status_code=status)


def _on_bad_request(_: Request, exc: Exception) -> Response[dict[str, Any]]:
    return _error(400, str(exc))


def _on_not_found(_: Request, exc: Exception) -> Response[dict[str, Any]]:
    return _error(404, str(exc) if isinstance(exc, NotFound) else "not found")


def _on_validation(_: Request, exc: ValidationException) -> Response[dict[str, Any]]:
    return _error(400, "invalid request parameters", exc.extra if exc.extra else exc.detail)


def _on_http(_: Request, exc: HTTPException) -> Response[dict[str, Any]]:
    return _error(exc.status_code, exc.detail)


def _on_internal(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    log.exception("query API error on %s", request.url.path, exc_info=exc)
    return _error(500, "internal error", type(exc).__name__)


@get("/metrics", sync_to_thread=False, include_in_schema=False)
def prometheus_metrics(request: Request) -> Response[bytes]:
    exposition = request.app.state.exposition
    body = exposition() if exposition else b""
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


def build_app(
    reader: TelemetryReader,
    health: HealthCheck,
    exposition: Callable[[], bytes] | None = None,
    extra_routes: list[Any] | None = None,
    before_read: Callable[[], Awaitable[None]] | None = None,
) -> Litestar:
    """``before_read`` (optional) is awaited before every ``/api/`` data read (not health): the
    composition root uses it for read-your-writes (wait until acknowledged telemetry is stored)."""

    async def wait_for_writes(request: Request[Any, Any, Any]) -> None:
        if before_read is not None and request.url.path.startswith("/api/") and request.url.path != "/api/health":
            await before_read()

    static_dir = Path(__file__).resolve().parent.parent / "dashboard" / "static"
    routes: list[Any] = [HealthController, TraceController, LogController, ServiceController, MetricController,
                         prometheus_metrics]
    if static_dir.is_dir():
        routes.append(create_static_files_router(path="/", directories=[static_dir], html_mode=True))
    app = Litestar(
        route_handlers=routes + list(extra_routes or []),
        openapi_config=OpenAPIConfig(title="Vigil query API", version="0.1.0", path="/schema"),
        exception_handlers={
            BadRequest: _on_bad_request,
            NotFound: _on_not_found,
            NotFoundException: _on_not_found,
            ValidationException: _on_validation,
            HTTPException: _on_http,
            Exception: _on_internal,
        },
        debug=False,
        before_request=wait_for_writes if before_read is not None else None,
    )
    app.state.reader = reader
    app.state.health = health
    app.state.exposition = exposition
    return app
