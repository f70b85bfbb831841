"""The ``/api/*`` controllers: parse parameters, call a query service, answer its typed model with ``meta``.

Dependencies come through ``Provide``: ``reader``, ``health``, ``exposition`` and ``freshness`` from the
app (:func:`query.api.build_app`), ``tr`` (the resolved time range) and ``meta`` (freshness of the
controller's signals, settled before the handler runs) from here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Controller, Response, get
from litestar.di import Provide
from litestar.openapi import ResponseSpec
from litestar.params import Dependency, Parameter

from contracts.reader import TelemetryReader
from contracts.signals import ALL_SIGNALS, Signal
from query import logs, metric_points, metrics, traces
from query.freshness import HEADER, Freshness, header_value
from query.models import (
    Agg,
    HealthReport,
    LogList,
    MetricList,
    MetricPoints,
    MetricSeries,
    ReadMeta,
    Trace,
    TraceList,
    TraceStatus,
)
from query.openapi import FRESHNESS_HEADER, RESPONSES, RESPONSES_404
from query.timerange import TimeRange, resolve

HealthCheck = Callable[[], dict[str, Any]]
Reader = Annotated[TelemetryReader, Dependency(skip_validation=True)]
Health = Annotated[HealthCheck, Dependency(skip_validation=True)]
Exposition = Annotated[Callable[[], bytes] | None, Dependency(skip_validation=True)]
B = TypeVar("B", bound=msgspec.Struct)
Attrs = Annotated[list[str] | None, Parameter(query="attr", description="`key:value` (point, span or resource "
                                                                       "attribute), repeatable")]
Service = Annotated[str | None, Parameter(description="service.name")]
Environment = Annotated[str | None, Parameter(description="deployment.environment(.name)")]


def provide_time_range(
    start: Annotated[str | None, Parameter(description="RFC 3339 or unix seconds (default: end - range)")] = None,
    end: Annotated[str | None, Parameter(description="RFC 3339 or unix seconds (default: now)")] = None,
    range_: Annotated[str | None, Parameter(query="range", description="Prometheus duration back from end, "
                                            "e.g. 15m, 1h30m, 7d (default 1h)")] = None,
) -> TimeRange:
    """The ``start``/``end``/``range`` parameters as a :class:`TimeRange`."""
    return resolve(start, end, range_)


def read_meta(*signals: Signal) -> Provide:
    """The ``meta`` dependency: freshness of ``signals`` once the read has waited for them."""

    async def provide(freshness: Freshness) -> ReadMeta:
        return await freshness.settle(signals)

    return Provide(provide)


def answer(body: B, meta: ReadMeta, status_code: int = 200) -> Response[B]:
    """``body`` with its ``meta`` and the ``Vigil-Data-Complete`` header."""
    return Response(msgspec.structs.replace(body, meta=meta), status_code=status_code,
                    headers={HEADER: header_value(meta)})


async def _snapshot(freshness: Freshness) -> ReadMeta:
    return await freshness.settle(ALL_SIGNALS, wait=False)


DEGRADED = ResponseSpec(data_container=HealthReport, description="Degraded: some component is not ok",
                        generate_examples=False)
TIME = {"tr": Provide(provide_time_range, sync_to_thread=False)}


class HealthController(Controller):
    """Combined component health."""

    path = "/api/health"
    tags = ["health"]
    response_headers = [FRESHNESS_HEADER]

    dependencies = {"meta": Provide(_snapshot)}

    @get("/", sync_to_thread=True, summary="Component health", responses={503: DEGRADED})
    def health(self, health: Health, meta: ReadMeta) -> Response[HealthReport]:
        """``ok`` when every component is ok, else ``degraded`` (503). Does not wait for ingest."""
        report = msgspec.convert(health(), HealthReport)
        return answer(report, meta, 200 if report.status == "ok" else 503)


class TraceController(Controller):
    """Traces by id and trace search."""

    path = "/api/traces"
    tags = ["traces"]
    response_headers = [FRESHNESS_HEADER]
    dependencies = {"meta": read_meta(Signal.TRACES), **TIME}

    @get("/{trace_id:str}", sync_to_thread=True, summary="Get one trace by id", responses=RESPONSES_404)
    def get_trace(
        self, reader: Reader, meta: ReadMeta,
        trace_id: Annotated[str, Parameter(description="32 hex characters (any case)")],
    ) -> Response[Trace]:
        """Every span of the trace, with attributes, events and links."""
        return answer(traces.get_trace(reader, trace_id), meta)

    @get("/", sync_to_thread=True, summary="Search traces", responses=RESPONSES)
    def search(
        self,
        reader: Reader,
        meta: ReadMeta,
        tr: TimeRange,
        service: Service = None,
        name: Annotated[str | None, Parameter(description="span name")] = None,
        status: Annotated[TraceStatus | None, Parameter(description="status of some span")] = None,
        min_duration_ms: float | None = None,
        max_duration_ms: float | None = None,
        attr: Attrs = None,
        limit: Annotated[int, Parameter(ge=1, le=traces.MAX_LIMIT)] = 20,
    ) -> Response[TraceList]:
        """Traces with a span matching every filter, newest first."""
        q = traces.TraceQuery(service, name, status.value if status else None, min_duration_ms, max_duration_ms,
                              tuple(attr or ()), limit)
        return answer(traces.search_traces(reader, q, tr), meta)


class LogController(Controller):
    """Log search."""

    path = "/api/logs"
    tags = ["logs"]
    response_headers = [FRESHNESS_HEADER]
    dependencies = {"meta": read_meta(Signal.LOGS), **TIME}

    @get("/", sync_to_thread=True, summary="Search logs", responses=RESPONSES)
    def search(
        self,
        reader: Reader,
        meta: ReadMeta,
        tr: TimeRange,
        service: Service = None,
        severity_min: Annotated[str | None, Parameter(description="0-24 or trace, debug, info, warn, error, "
                                                      "fatal")] = None,
        severity_max: Annotated[str | None, Parameter(description="0-24 or a name as severity_min (a name is "
                                                      "its range's highest number); not below severity_min")] = None,
        q: Annotated[str | None, Parameter(description="case-insensitive substring of the body or of a log "
                                           "attribute's value (e.g. exception.message)")] = None,
        attr: Annotated[list[str] | None, Parameter(query="attr", description="`key:value` (log or resource "
                                                    "attribute), repeatable")] = None,
        trace_id: Annotated[str | None, Parameter(description="32 hex characters")] = None,
        limit: Annotated[int, Parameter(ge=1, le=logs.MAX_LIMIT)] = 100,
    ) -> Response[LogList]:
        """Log records matching every filter, newest first."""
        query = logs.LogQuery(service, severity_min, q, trace_id, limit, tuple(attr or ()), severity_max)
        return answer(logs.search_logs(reader, query, tr), meta)


class MetricController(Controller):
    """The metric catalogue, aggregated queries and raw points."""

    path = "/api/metrics"
    tags = ["metrics"]
    response_headers = [FRESHNESS_HEADER]
    dependencies = {"meta": read_meta(Signal.METRICS), **TIME}

    @get("/names", sync_to_thread=True, summary="List metrics", responses=RESPONSES)
    def names(self, reader: Reader, meta: ReadMeta, tr: TimeRange) -> Response[MetricList]:
        """Every metric with points in the range: name, kind, unit, description, services."""
        return answer(metrics.metric_names(reader, tr), meta)

    @get("/query", sync_to_thread=True, summary="Query a metric's series", responses=RESPONSES_404)
    def query(
        self,
        reader: Reader,
        meta: ReadMeta,
        tr: TimeRange,
        name: Annotated[str, Parameter(description="metric name")],
        service: Service = None,
        attr: Attrs = None,
        agg: Annotated[Agg, Parameter(description="aggregation per step")] = Agg.AVG,
        group_by: Annotated[str | None, Parameter(description="comma-separated attribute keys")] = None,
        step: Annotated[str, Parameter(description="Prometheus duration, whole seconds")] = "60s",
    ) -> Response[MetricSeries]:
        """One series per label group, points aligned to ``step``."""
        keys = tuple(k.strip() for k in (group_by or "").split(",") if k.strip())
        q = metrics.MetricQuery(name, service, tuple(attr or ()), agg.value, keys, step)
        return answer(metrics.query_metric(reader, q, tr), meta)

    @get("/points", sync_to_thread=True, summary="Raw data points of a metric", responses=RESPONSES_404)
    def points(
        self,
        reader: Reader,
        meta: ReadMeta,
        tr: TimeRange,
        name: Annotated[str, Parameter(description="metric name")],
        service: Service = None,
        attr: Attrs = None,
        limit: Annotated[int, Parameter(ge=1, le=metric_points.MAX_LIMIT)] = 1000,
    ) -> Response[MetricPoints]:
        """Points with their kind's own fields, newest first."""
        return answer(metric_points.metric_points(reader, name, tr, service, tuple(attr or ()), limit), meta)


@get("/metrics", sync_to_thread=False, include_in_schema=False)
def prometheus_metrics(exposition: Exposition) -> Response[bytes]:
    """Vigil's own metrics in the Prometheus text format."""
    return Response(exposition() if exposition else b"", media_type="text/plain; version=0.0.4; charset=utf-8")


CONTROLLERS = [HealthController, TraceController, LogController, MetricController]
