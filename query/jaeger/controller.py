"""``/jaeger/api/*``: Jaeger's query HTTP API (v1 JSON), for Grafana's Jaeger data source and Jaeger UI.

Routes and envelopes follow ``cmd/jaeger/internal/extension/jaegerquery/internal/http_handler.go``
of jaegertracing/jaeger (services, operations and search as of the commit before 639eefe04 removed
them): every answer is ``{data, total, limit, offset, errors}``; an error answer has ``data`` null and
``errors`` ``[{code, msg}]`` with the HTTP status as ``code`` — 400 for a bad parameter (``msg`` names
it), 404 ``trace not found``. Every answer carries the ``Vigil-Data-Complete`` header (the read waited
for acknowledged ingest as ``/api/*`` reads do).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import Dependency, Parameter
from litestar.types import ExceptionHandlersMap

from contracts.reader import TelemetryReader
from contracts.signals import Signal
from query.errors import BadRequest, NotFound
from query.freshness import HEADER, Freshness, header_value
from query.jaeger import params, service
from query.jaeger.convert import jaeger_trace_id
from query.jaeger.models import (
    DependenciesResponse,
    ErrorResponse,
    OperationsResponse,
    StringsResponse,
    StructuredError,
    TracesResponse,
)
from query.models import ReadMeta
from query.openapi import FRESHNESS_HEADER

Reader = Annotated[TelemetryReader, Dependency(skip_validation=True)]
Str = str | None


def _error(code: int, msg: str) -> Response[ErrorResponse]:
    return Response(ErrorResponse(errors=[StructuredError(msg=msg, code=code)]), status_code=code)


def _on_bad_request(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorResponse]:
    return _error(400, str(exc))


def _on_not_found(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorResponse]:
    return _error(404, str(exc))


def _on_validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[ErrorResponse]:
    return _error(400, f"invalid request parameters: {exc.detail}")


async def _settle(freshness: Freshness) -> ReadMeta:
    return await freshness.settle((Signal.TRACES,))


def _ok(body: Any, meta: ReadMeta) -> Response[Any]:
    return Response(body, headers={HEADER: header_value(meta)})


_ERRORS = {400: ResponseSpec(data_container=ErrorResponse, description="Bad parameter (msg names it)",
                             generate_examples=False)}
_ERRORS_404 = {**_ERRORS, 404: ResponseSpec(data_container=ErrorResponse, description="trace not found",
                                            generate_examples=False)}
EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    BadRequest: _on_bad_request,
    NotFound: _on_not_found,
    ValidationException: _on_validation,
}


class JaegerController(Controller):
    """Jaeger's query API over Vigil's traces (see the module doc and docs/jaeger.md)."""

    path = "/jaeger/api"
    tags = ["jaeger"]
    response_headers = [FRESHNESS_HEADER]
    dependencies = {"meta": Provide(_settle)}
    exception_handlers = EXCEPTION_HANDLERS

    @get("/services", sync_to_thread=True, summary="Jaeger: service names", responses=_ERRORS)
    def services(self, reader: Reader, meta: ReadMeta) -> Response[StringsResponse]:
        """Service names with spans in the last 7 days, sorted; ``total`` is their count."""
        names = service.services(reader)
        return _ok(StringsResponse(data=names, total=len(names)), meta)

    @get("/services/{name:str}/operations", sync_to_thread=True, summary="Jaeger: operation names (legacy)",
         responses=_ERRORS)
    def operations_legacy(self, reader: Reader, meta: ReadMeta, name: str) -> Response[StringsResponse]:
        """The service's distinct operation (span) names, sorted, any span kind."""
        names = service.operation_names(reader, name)
        return _ok(StringsResponse(data=names, total=len(names)), meta)

    @get("/operations", sync_to_thread=True, summary="Jaeger: operations with span kinds", responses=_ERRORS)
    def operations(
        self, reader: Reader, meta: ReadMeta,
        service_: Annotated[Str, Parameter(query="service", description="required")] = None,
        span_kind: Annotated[Str, Parameter(query="spanKind", description="server, client, producer, "
                                            "consumer, internal, unspecified")] = None,
    ) -> Response[OperationsResponse]:
        """``[{name, spanKind}]`` of the service (400 without ``service``)."""
        if not service_:
            raise BadRequest("parameter 'service' is required", "service")
        ops = service.operations(reader, service_, params.parse_span_kind(span_kind))
        return _ok(OperationsResponse(data=ops, total=len(ops)), meta)

    @get("/traces", sync_to_thread=True, summary="Jaeger: search traces", responses=_ERRORS)
    def search(
        self, reader: Reader, meta: ReadMeta,
        service_: Annotated[Str, Parameter(query="service")] = None,
        operation: Str = None,
        tag: Annotated[list[str] | None, Parameter(description="key:value, repeatable")] = None,
        tags: Annotated[list[str] | None, Parameter(description='JSON object, e.g. {"k":"v"}')] = None,
        min_duration: Annotated[Str, Parameter(query="minDuration", description="Go duration: 1.2s")] = None,
        max_duration: Annotated[Str, Parameter(query="maxDuration", description="Go duration: 100ms")] = None,
        start: Annotated[Str, Parameter(description="unix µs (default end - lookback)")] = None,
        end: Annotated[Str, Parameter(description="unix µs (default now)")] = None,
        limit: Annotated[Str, Parameter(description="1-1000, default 20")] = None,
        lookback: Annotated[Str, Parameter(description="Go duration, used without start (default 2d)")] = None,
        trace_ids: Annotated[list[str] | None, Parameter(query="traceID", description="repeatable; "
                                                         "replaces the other filters")] = None,
    ) -> Response[TracesResponse]:
        """Whole traces with one span matching every filter, newest first; with ``traceID``, those traces.

        Ids not found are reported in ``errors`` as ``{msg: "trace not found", traceID}`` (Jaeger's
        ``tracesByIDs``), with status 200.
        """
        if trace_ids:
            found, missing = service.traces_by_ids(reader, [params.parse_trace_id(t) for t in trace_ids])
            errors = [StructuredError(msg="trace not found", trace_id=jaeger_trace_id(t)) for t in missing]
            return _ok(TracesResponse(data=found, errors=errors or None), meta)
        q = params.trace_search(service=service_, operation=operation, tag=tag or [], tags=tags or [],
                                min_duration=min_duration, max_duration=max_duration, start=start, end=end,
                                limit=limit, lookback=lookback)
        return _ok(TracesResponse(data=service.find_traces(reader, q)), meta)

    @get("/traces/{trace_id:str}", sync_to_thread=True, summary="Jaeger: one trace", responses=_ERRORS_404)
    def get_trace(self, reader: Reader, meta: ReadMeta, trace_id: str) -> Response[TracesResponse]:
        """``{"data": [trace]}``; 404 ``trace not found``; 400 for an id that is not 1-32 hex digits."""
        trace = service.get_trace(reader, params.parse_trace_id(trace_id))
        return _ok(TracesResponse(data=[trace]), meta)

    @get("/dependencies", sync_to_thread=True, summary="Jaeger: service dependencies", responses=_ERRORS)
    def dependency_links(
        self, reader: Reader, meta: ReadMeta,
        end_ts: Annotated[Str, Parameter(query="endTs", description="unix ms (default now)")] = None,
        lookback: Annotated[Str, Parameter(description="ms (default 86400000)")] = None,
        service_: Annotated[Str, Parameter(query="service", description="links touching this service")] = None,
    ) -> Response[DependenciesResponse]:
        """``[{parent, child, callCount}]``: client→server calls between services in the window."""
        start_ns, end_ns = params.dependency_window(end_ts, lookback)
        return _ok(DependenciesResponse(data=service.dependencies(reader, start_ns, end_ns, service_)), meta)
