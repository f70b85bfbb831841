"""Litestar query API: thin controllers over the query services, with typed answers.

Every ``/api/*`` answer is a declared type of :mod:`query.models` carrying ``meta``
(:class:`~query.models.ReadMeta`) and the ``Vigil-Data-Complete`` header (see :mod:`query.freshness`).
Every error answer is JSON ``{"error": "...", "detail": ...}`` with the right 4xx/5xx status; a 400's
``detail`` is ``{"parameter": name}`` when a parameter is at fault (see :mod:`query.http_errors`). Time
parameters: ``start``/``end`` (RFC 3339 or unix seconds) or ``range`` (Prometheus duration, default
1h). The Prometheus HTTP API under ``/api/v1`` (:mod:`query.promql_api`) answers Prometheus' own JSON
instead. OpenAPI at ``/schema`` (offline UI, see :mod:`query.openapi`). Controllers get the reader, the
health check and freshness through Litestar's ``Provide``. Handlers are synchronous and run in
Litestar's thread pool (storage calls block).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.plugins import PluginProtocol
from litestar.types import ControllerRouterHandler

from contracts.events import EventBus
from contracts.freshness import IngestProgress
from contracts.metadata import MetadataStore
from contracts.reader import TelemetryReader
from query.admin import AuditController
from query.apm import controllers as apm_controllers
from query.auth import OPEN_OPT, Auditor, auth_middleware
from query.controllers import CONTROLLERS, HealthCheck, prometheus_metrics
from query.freshness import Freshness
from query.http_errors import EXCEPTION_HANDLERS
from query.live import live_feed
from query.openapi import assets_router, openapi_config
from query.promql_api import PROMETHEUS_ROUTES, promql_engine
from query.session import SessionController
from query.tokens_api import TokenController

__all__ = ["HealthCheck", "build_app"]


def _value(value: Any) -> Provide:
    def provide() -> Any:
        return value

    return Provide(provide, sync_to_thread=False, use_cache=True)


def build_app(
    reader: TelemetryReader,
    health: HealthCheck,
    exposition: Callable[[], bytes] | None = None,
    extra_routes: Sequence[ControllerRouterHandler] | None = None,
    before_read: Callable[[], Awaitable[None]] | None = None,
    *,
    progress: IngestProgress | None = None,
    read_after_write_timeout_s: float = 0.0,
    dashboard: Router | None = None,
    plugins: Sequence[PluginProtocol] = (),
    metadata: MetadataStore | None = None,
    bus: EventBus | None = None,
    dependencies: Mapping[str, Any] | None = None,
    auth: bool = False,
) -> Litestar:
    """The query API over ``reader``.

    Args:
        reader: The columnar store's reads.
        health: The combined health report (``{"status": "ok"|"degraded", "components": {…}}``).
        exposition: Prometheus text for ``/metrics`` (empty when None).
        extra_routes: More route handlers or routers, mounted as given.
        before_read: Deprecated: awaited before each data read when there is no ``progress``
            (completeness is then unknown, and answered ``false``).
        progress: Ingest's progress; each data read waits at most ``read_after_write_timeout_s`` for
            what was acknowledged before it, and reports the rest (None: a query-only process).
        read_after_write_timeout_s: The longest wait per read (0: report without waiting).
        dashboard: The dashboard's router (``dashboard.router.static_router()``), mounted last.
        plugins: More Litestar plugins, e.g. OpenTelemetry tracing of the API (the composition root's).
        metadata: Vigil's PostgreSQL state (dependency ``metadata``; None in tests that need none).
        bus: Live events (dependency ``bus``).
        (dependency ``promql``: the PromQL engine over ``reader`` of the Prometheus API, one per app)
        dependencies: More values handlers receive by name, e.g. a feature's settings.
        auth: Check API tokens of ``metadata.tokens`` on every route but the open allow-list (see
            :mod:`query.auth`); False: everyone is admin. Dependency ``audit`` (:class:`query.auth.Auditor`)
            writes to ``metadata.audit`` either way.
    """
    freshness = Freshness(progress, read_after_write_timeout_s, before_read)
    routes: list[ControllerRouterHandler] = [*CONTROLLERS, *apm_controllers(), AuditController, TokenController,
                                             SessionController,
                                             live_feed, prometheus_metrics, assets_router(),
                                             *PROMETHEUS_ROUTES]
    routes += list(extra_routes or [])
    if dashboard is not None:
        routes.append(Router(path="/", route_handlers=[dashboard], opt={OPEN_OPT: True}))  # static, open
    if auth and metadata is None:
        raise ValueError("auth needs the metadata store (its tokens)")
    return Litestar(
        route_handlers=routes,
        dependencies={
            "reader": _value(reader),
            "health": _value(health),
            "exposition": _value(exposition),
            "freshness": _value(freshness),
            "metadata": _value(metadata),
            "auth_enabled": _value(auth),
            "bus": _value(bus),
            "promql": _value(promql_engine(reader)),
            "audit": _value(Auditor(metadata.audit if metadata is not None else None)),
            **{name: _value(value) for name, value in (dependencies or {}).items()},
        },
        openapi_config=openapi_config(),
        plugins=list(plugins),
        middleware=[auth_middleware(metadata.tokens if auth and metadata is not None else None)],
        exception_handlers=EXCEPTION_HANDLERS,
        debug=False,
        logging_config=None,  # the process's logging is the composition root's (one format, no takeover)
    )
