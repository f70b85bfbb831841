"""``/api/metrics/frontend`` and ``/api/metrics/frontend/pages``: browser Web Vitals (see :mod:`query.apm.frontend`)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get
from litestar.params import Parameter

from contracts.signals import Signal
from query.apm import frontend
from query.apm.frontend_models import FrontendMetrics, FrontendPages
from query.apm.window import WINDOW, ApmWindow
from query.controllers import Environment, Reader, Service, answer, read_meta
from query.models import ReadMeta
from query.openapi import FRESHNESS_HEADER, RESPONSES


class FrontendController(Controller):
    """Core Web Vitals (LCP, INP, CLS, FCP, TTFB) from browser RUM beacons."""

    path = "/api/metrics/frontend"
    tags = ["apm"]
    response_headers = [FRESHNESS_HEADER]
    dependencies = {"meta": read_meta(Signal.LOGS), **WINDOW}

    @get("/", sync_to_thread=True, summary="Frontend Web Vitals", responses=RESPONSES)
    def vitals(self, reader: Reader, meta: ReadMeta, window: ApmWindow, service: Service = None,
               environment: Environment = None) -> Response[FrontendMetrics]:
        """p75 per vital with the good / needs-improvement / poor split, series, by device and connection."""
        return answer(frontend.frontend_metrics(reader, window, service, environment), meta)

    @get("/pages", sync_to_thread=True, summary="Frontend pages", responses=RESPONSES)
    def pages(self, reader: Reader, meta: ReadMeta, window: ApmWindow, service: Service = None,
              environment: Environment = None,
              sort: Annotated[str, Parameter(description=f"one of {', '.join(frontend.SORTS)}")] = "lcp",
              limit: Annotated[int, Parameter(description="at most this many pages (1–500)")] = 50,
              ) -> Response[FrontendPages]:
        """Per page route: vitals, JS errors and the slowest page load with its backend trace id."""
        return answer(frontend.frontend_pages(reader, window, service, environment, sort, limit), meta)
