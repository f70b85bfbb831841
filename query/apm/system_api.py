"""``/api/metrics/system``: host resource figures (see :mod:`query.apm.system`).

Dependencies: ``reader`` and ``freshness`` from the app, ``window`` (:data:`query.apm.window.WINDOW`),
and ``system_settings`` (:class:`query.apm.system_models.SystemSettings`) from the composition root
(without it, :data:`DEFAULT_SETTINGS`).
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get
from litestar.params import Dependency, Parameter

from contracts.signals import Signal
from query.apm import system
from query.apm.system_models import SystemMetrics, SystemSettings
from query.apm.window import WINDOW, ApmWindow
from query.controllers import Reader, answer, read_meta
from query.models import ReadMeta
from query.openapi import FRESHNESS_HEADER, RESPONSES

Settings = Annotated[SystemSettings, Dependency(skip_validation=True)]
DEFAULT_SETTINGS = SystemSettings()


class SystemController(Controller):
    """CPU, memory, disk, network and disk I/O per host from the ``system.*`` metrics."""

    path = "/api/metrics/system"
    tags = ["apm"]
    response_headers = [FRESHNESS_HEADER]
    dependencies = {"meta": read_meta(Signal.METRICS), **WINDOW}

    @get("/", sync_to_thread=True, summary="System metrics", responses=RESPONSES)
    def system(self, reader: Reader, meta: ReadMeta, window: ApmWindow,
               system_settings: Settings = DEFAULT_SETTINGS,
               host: Annotated[str | None, Parameter(description="host.name (default: every host)")] = None,
               ) -> Response[SystemMetrics]:
        """Per host: utilization series and current values with threshold states, throughput in bytes/s."""
        return answer(system.system_metrics(reader, window, system_settings, host), meta)
