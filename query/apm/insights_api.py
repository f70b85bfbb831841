"""``/api/insights/performance`` (see :mod:`query.apm.insights`).

Dependencies: ``reader`` and ``freshness`` from the app, ``window`` (:data:`query.apm.window.WINDOW`),
``insight_settings`` (:class:`~query.apm.insights_models.InsightSettings`) and ``system_settings``
(host thresholds of the ``saturated_host`` rule) from the composition root.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get
from litestar.params import Dependency, Parameter

from contracts.signals import Signal
from query.apm import insights, system
from query.apm.insights_hosts import saturated_hosts
from query.apm.insights_models import SEVERITIES, InsightList, InsightSettings
from query.apm.system_models import SystemSettings
from query.apm.window import WINDOW, ApmWindow
from query.controllers import Environment, Reader, Service, answer, read_meta
from query.errors import BadRequest
from query.models import ReadMeta
from query.openapi import FRESHNESS_HEADER, RESPONSES

KINDS = ("slow_endpoint", "latency_regression", "error_spike", "high_variance", "n_plus_one", "db_dominated",
         "saturated_host")
Settings = Annotated[InsightSettings, Dependency(skip_validation=True)]
HostSettings = Annotated[SystemSettings, Dependency(skip_validation=True)]
DEFAULT_SETTINGS = InsightSettings()
DEFAULT_HOST_SETTINGS = SystemSettings()


def filter_insights(found: InsightList, kind: str | None, severity_min: str | None) -> InsightList:
    """Only findings of ``kind`` and at least ``severity_min``; 400 naming the parameter otherwise."""
    if kind is not None and kind not in KINDS:
        raise BadRequest(f"{kind[:30]!r} is not one of {', '.join(KINDS)}", "kind")
    if severity_min is not None and severity_min not in SEVERITIES:
        raise BadRequest(f"{severity_min[:30]!r} is not one of {', '.join(SEVERITIES)}", "severity_min")
    floor = SEVERITIES.index(severity_min) if severity_min else 0
    return InsightList(insights=[i for i in found.insights if (kind is None or i.kind == kind)
                                 and SEVERITIES.index(i.severity) >= floor])


class InsightsController(Controller):
    """Automated performance findings."""

    path = "/api/insights"
    tags = ["apm"]
    response_headers = [FRESHNESS_HEADER]
    dependencies = {"meta": read_meta(Signal.TRACES), **WINDOW}

    @get("/performance", sync_to_thread=True, summary="Performance insights", responses=RESPONSES)
    def performance(self, reader: Reader, meta: ReadMeta, window: ApmWindow,
                    insight_settings: Settings = DEFAULT_SETTINGS,
                    system_settings: HostSettings = DEFAULT_HOST_SETTINGS,
                    service: Service = None, environment: Environment = None,
                    kind: Annotated[str | None, Parameter(description=", ".join(KINDS))] = None,
                    severity_min: Annotated[str | None, Parameter(description="info, warning or critical")] = None,
                    ) -> Response[InsightList]:
        """Slow endpoints, N+1 queries, regressions, error spikes, DB-bound endpoints, variance, hosts."""
        filter_insights(InsightList(insights=[]), kind, severity_min)  # 400 before any query
        wants_hosts = not service and kind in (None, "saturated_host")
        extra = saturated_hosts(system.system_metrics(reader, window, system_settings).hosts) if wants_hosts else []
        found = insights.performance_insights(reader, window, insight_settings, service, environment, extra)
        return answer(filter_insights(found, kind, severity_min), meta)
