"""APM analytics: request, database, error, system and service answers derived from semantic conventions.

Each feature is one module with its own controller; :func:`controllers` lists them for
:func:`query.api.build_app`. Shared pieces: :mod:`query.apm.window` (the ``range``/``start``/``end``
window and bucket step) and :mod:`query.apm.semconv` (attribute expressions and the counting rule).
Settings a feature needs (thresholds, Apdex T, …) reach it as Litestar dependencies that the
composition root passes through ``build_app(dependencies=…)``.
"""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from query.apm.dashboard_api import DashboardController
from query.apm.database_api import DatabaseController
from query.apm.errors_api import ErrorIssueController, ErrorMetricsController
from query.apm.frontend_api import FrontendController
from query.apm.insights_api import InsightsController
from query.apm.requests_api import ApiPerformanceController
from query.apm.services_api import ServiceListController, ServiceMapController
from query.apm.system_api import SystemController
from query.jaeger.controller import JaegerController
from query.logs_volume import LogVolumeController


def controllers() -> list[ControllerRouterHandler]:
    """Every APM controller (one import per feature module)."""
    found: list[ControllerRouterHandler] = []
    found.append(JaegerController)
    found.append(ApiPerformanceController)
    found.append(DatabaseController)
    found.append(ServiceListController)
    found.append(ServiceMapController)
    found.append(InsightsController)
    found.append(SystemController)
    found.append(LogVolumeController)
    found.append(ErrorMetricsController)
    found.append(ErrorIssueController)
    found.append(DashboardController)
    found.append(FrontendController)
    return found
