"""``/api/dashboard`` (see :mod:`query.apm.dashboard`).

Dependencies: ``reader``, ``freshness`` and ``metadata`` (error issues) from the app, ``window``, and each
feature's settings (``api_settings``, ``database_settings``, ``system_settings``, ``insight_settings``,
``error_settings``) from the composition root, defaults without them; ``active_alerts`` (a callable giving
the evaluator's :class:`~query.apm.dashboard_models.AlertSummary`) when the alerts module runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from litestar import Controller, Response, get
from litestar.params import Dependency

from contracts.metadata import MetadataStore
from contracts.signals import Signal
from query.apm import dashboard
from query.apm.dashboard_models import AlertSummary, Dashboard
from query.apm.database_models import DatabaseSettings
from query.apm.errors_models import ErrorSettings
from query.apm.insights_models import InsightSettings
from query.apm.requests_models import ApiSettings
from query.apm.system_models import SystemSettings
from query.apm.window import WINDOW, ApmWindow
from query.controllers import Environment, Reader, Service, answer, read_meta
from query.models import ReadMeta
from query.openapi import FRESHNESS_HEADER, RESPONSES

Metadata = Annotated[MetadataStore | None, Dependency(skip_validation=True)]
Alerts = Annotated[Callable[[], AlertSummary] | None, Dependency(skip_validation=True)]
Api = Annotated[ApiSettings, Dependency(skip_validation=True)]
Db = Annotated[DatabaseSettings, Dependency(skip_validation=True)]
Sys = Annotated[SystemSettings, Dependency(skip_validation=True)]
Ins = Annotated[InsightSettings, Dependency(skip_validation=True)]
Err = Annotated[ErrorSettings, Dependency(skip_validation=True)]
D = dashboard.DashboardSettings()


class DashboardController(Controller):
    """The overview document."""

    path = "/api/dashboard"
    tags = ["apm"]
    response_headers = [FRESHNESS_HEADER]
    dependencies = {"meta": read_meta(Signal.TRACES, Signal.LOGS, Signal.METRICS), **WINDOW}

    @get("/", sync_to_thread=True, summary="Dashboard overview", responses=RESPONSES)
    def overview(self, reader: Reader, meta: ReadMeta, window: ApmWindow, metadata: Metadata,
                 api_settings: Api = D.api, database_settings: Db = D.database, system_settings: Sys = D.system,
                 insight_settings: Ins = D.insights, error_settings: Err = D.errors, service: Service = None,
                 environment: Environment = None, active_alerts: Alerts = None) -> Response[Dashboard]:
        """Health, API RED, services, database, errors, hosts, active alerts and the top insights."""
        settings = dashboard.DashboardSettings(api_settings, database_settings, system_settings, insight_settings,
                                               error_settings)
        issues = metadata.issues if metadata is not None else None
        alerts = active_alerts() if active_alerts is not None else None
        return answer(dashboard.dashboard(reader, window, issues, settings, service, environment, alerts), meta)
