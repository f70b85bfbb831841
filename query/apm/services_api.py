"""``/api/services``, ``/api/services/{name}`` and ``/api/service-map`` (see :mod:`query.apm.servicemap`).

Dependencies: ``reader`` and ``freshness`` from the app, ``window`` (:data:`query.apm.window.WINDOW`) and
``api_settings`` (Apdex T and SLA target of the RED figures) from the composition root.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get
from litestar.params import Dependency

from contracts.reader import TelemetryReader
from contracts.signals import Signal
from query.apm import requests, servicemap, services_list
from query.apm.requests_models import ApiSettings
from query.apm.servicemap_models import ServiceDetail, ServiceMap
from query.apm.window import WINDOW, ApmWindow
from query.controllers import TIME, Environment, Reader, Service, answer, read_meta
from query.errors import BadRequest, NotFound
from query.jaeger import service as catalogue
from query.models import ReadMeta, ServiceList
from query.openapi import FRESHNESS_HEADER, RESPONSES, RESPONSES_404
from query.timerange import TimeRange

Settings = Annotated[ApiSettings, Dependency(skip_validation=True)]
DEFAULT_SETTINGS = ApiSettings()
MAX_NAME = 256


def service_detail(reader: TelemetryReader, window: ApmWindow, name: str, settings: ApiSettings,
                   environment: str | None = None) -> ServiceDetail:
    """RED, top endpoints (by requests) and the calls into and out of ``name``.

    Raises :class:`NotFound` when the service has no spans in the window nor in the service catalogue
    (the last 7 days), :class:`BadRequest` for a name longer than :data:`MAX_NAME`.
    """
    if len(name) > MAX_NAME:
        raise BadRequest(f"longer than {MAX_NAME} characters", "name")
    red = requests.api_metrics(reader, window, settings, name, environment)
    graph = servicemap.service_map(reader, window, name, environment)
    own = servicemap.service_id(name)
    if not graph.nodes and name not in catalogue.services(reader):
        raise NotFound(f"no service {name[:80]!r}")
    endpoints = requests.top_endpoints(reader, window, "requests", 20, name, environment).endpoints
    return ServiceDetail(name=name, red=red, endpoints=endpoints,
                         upstream=[e for e in graph.edges if e.target == own],
                         downstream=[e for e in graph.edges if e.source == own], nodes=graph.nodes)


class ServiceListController(Controller):
    """The service overview."""

    path = "/api/services"
    tags = ["services"]
    response_headers = [FRESHNESS_HEADER]
    dependencies = {"meta": read_meta(Signal.TRACES), **TIME}

    @get("/", sync_to_thread=True, summary="Service overview", responses=RESPONSES)
    def list(self, reader: Reader, meta: ReadMeta, tr: TimeRange) -> Response[ServiceList]:
        """Span count, error count and p95 span duration per service, and their requests."""
        return answer(services_list.list_services(reader, tr), meta)


class ServiceMapController(Controller):
    """One service's page and the whole service map."""

    path = "/api"
    tags = ["services"]
    response_headers = [FRESHNESS_HEADER]
    dependencies = {"meta": read_meta(Signal.TRACES), **WINDOW}

    @get("/services/{name:str}", sync_to_thread=True, summary="One service", responses=RESPONSES_404)
    def detail(self, reader: Reader, meta: ReadMeta, window: ApmWindow, name: str,
               api_settings: Settings = DEFAULT_SETTINGS, environment: Environment = None) -> Response[ServiceDetail]:
        """RED totals and series, top endpoints, upstream callers and downstream dependencies."""
        return answer(service_detail(reader, window, name, api_settings, environment), meta)

    @get("/service-map", sync_to_thread=True, summary="Service map", responses=RESPONSES)
    def graph(self, reader: Reader, meta: ReadMeta, window: ApmWindow, service: Service = None,
              environment: Environment = None) -> Response[ServiceMap]:
        """Services, databases and external hosts with calls, error rate and p95 per edge."""
        return answer(servicemap.service_map(reader, window, service, environment), meta)
