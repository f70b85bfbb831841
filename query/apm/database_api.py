"""``/api/metrics/database*``: database analytics endpoints.

Modules: :mod:`query.apm.database` (slow queries), :mod:`query.apm.database_overview` (the overview
from DB client spans), :mod:`query.apm.database_pool` (connection-pool metrics; its ``meta`` is the
freshness of metrics, the others' of traces).

Dependencies: ``reader`` and ``freshness`` from the app, ``window`` (:data:`query.apm.window.WINDOW`),
and ``database_settings`` (:class:`query.apm.database_models.DatabaseSettings`) from the composition
root (without it, :data:`DEFAULT_SETTINGS`).
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get
from litestar.params import Dependency, Parameter

from contracts.signals import Signal
from query.apm import database, database_overview, database_pool
from query.apm.database_models import DatabaseSettings, SlowQueryList
from query.apm.database_overview_models import ConnectionStats, DatabaseOverview
from query.apm.window import WINDOW, ApmWindow
from query.controllers import Environment, Reader, Service, answer, read_meta
from query.models import ReadMeta
from query.openapi import FRESHNESS_HEADER, RESPONSES

Settings = Annotated[DatabaseSettings, Dependency(skip_validation=True)]
DEFAULT_SETTINGS = DatabaseSettings()


class DatabaseController(Controller):
    """Database overview and slow statements from DB client spans; connection pools from pool metrics."""

    path = "/api/metrics/database"
    tags = ["apm"]
    response_headers = [FRESHNESS_HEADER]
    dependencies = {"meta": read_meta(Signal.TRACES), **WINDOW}

    @get("/slow-queries", sync_to_thread=True, summary="Slow queries", responses=RESPONSES)
    def slow(self, reader: Reader, meta: ReadMeta, window: ApmWindow,
             database_settings: Settings = DEFAULT_SETTINGS, service: Service = None,
             environment: Environment = None,
             threshold_ms: Annotated[float | None, Parameter(description="listed when max exceeds it "
                                                                         "(default: slow_query_ms)")] = None,
             sort: Annotated[str, Parameter(description="total, avg, p95, max or count")] = "total",
             limit: Annotated[int, Parameter(description="rows (1–500)")] = 20) -> Response[SlowQueryList]:
        """Per normalized statement: executions, total/avg/p95/max ms, rows, callers, slowest traces."""
        threshold = database_settings.slow_query_ms if threshold_ms is None else threshold_ms
        body = database.slow_queries(reader, window, threshold_ms=threshold, sort=sort, limit=limit,
                                     service=service, environment=environment)
        return answer(body, meta)

    @get("/", sync_to_thread=True, summary="Database performance", responses=RESPONSES)
    def overview(self, reader: Reader, meta: ReadMeta, window: ApmWindow, service: Service = None,
                 environment: Environment = None,
                 limit: Annotated[int, Parameter(description="top operations (1–100)")] = 10
                 ) -> Response[DatabaseOverview]:
        """Per (db system, namespace) and in total: executions, errors, rate, avg/p50–p99 ms, series; top operations."""
        body = database_overview.database_overview(reader, window, service=service, environment=environment,
                                                   limit=limit)
        return answer(body, meta)

    @get("/connection-stats", sync_to_thread=True, summary="Connection pools", responses=RESPONSES,
         dependencies={"meta": read_meta(Signal.METRICS)})
    def pools(self, reader: Reader, meta: ReadMeta, window: ApmWindow, service: Service = None,
              pool: Annotated[str | None, Parameter(description="db.client.connection.pool.name")] = None
              ) -> Response[ConnectionStats]:
        """Per pool: latest idle/used/max/pending, timeouts, wait/use time (p95 from buckets), usage series."""
        return answer(database_pool.connection_stats(reader, window, service=service, pool=pool), meta)
