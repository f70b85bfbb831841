"""Helpers that instrument the libraries a Python web service uses: ASGI apps, Litestar, httpx, psycopg.

* :func:`instrument_asgi` wraps any ASGI app in ``opentelemetry-instrumentation-asgi``'s middleware
  (one SERVER span per request; the per-message ``send``/``receive`` spans are left out).
* :func:`litestar_otel_config` gives Litestar's own OpenTelemetry plugin (which is built on that
  middleware) a span-details extractor that names spans ``GET /orders/{order_id}`` and sets
  ``http.route`` to the **route template**, as the HTTP semantic conventions require — Litestar's
  default puts the raw path there, which splits one endpoint into one series per id.
* :func:`record_exception` is a Litestar ``after_exception`` hook recording unhandled errors on the span.
* :func:`instrument_httpx` traces outgoing httpx calls (CLIENT spans) and injects ``traceparent``.
* :func:`instrument_psycopg` traces psycopg 3 queries (CLIENT spans with ``db.*`` attributes).

Each takes optional providers; by default the global ones (see :func:`instrumentation.configure_otel`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

_PARAM_TYPE = re.compile(r"\{(\w+):[^}]*\}")

if TYPE_CHECKING:
    from litestar.plugins.opentelemetry import OpenTelemetryConfig
    from litestar.types import Scope


def instrument_asgi(app: Any, *, tracer_provider: TracerProvider | None = None,
                    meter_provider: MeterProvider | None = None, excluded_urls: str | None = None) -> Any:
    """Return ``app`` wrapped in the OpenTelemetry ASGI middleware (SERVER spans, HTTP server metrics)."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(app, excluded_urls=excluded_urls, tracer_provider=tracer_provider,
                                   meter_provider=meter_provider, exclude_spans=["receive", "send"])


def _route_template(scope: Scope) -> str | None:
    """The matched route's template, asking Litestar's (cached) router when it has not routed yet."""
    if template := scope.get("path_template"):
        return str(template)
    router = getattr(scope.get("litestar_app") or scope.get("app"), "asgi_router", None)
    if router is None:
        return None
    path = str(scope.get("path") or "/")
    if root := scope.get("root_path"):
        path = path.split(str(root), maxsplit=1)[-1]
    path = "/" + path.strip("/")
    try:
        *_, template = router.handle_routing(path=path, method=scope.get("method"))
    except Exception:  # noqa: BLE001 - no route (404/405): the span gets no http.route
        return None
    return str(template)


def route_span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Span name and attributes for a Litestar request: ``"{METHOD} {route template}"`` and ``http.route``.

    Litestar's OpenTelemetry middleware runs before routing, so the template comes from the app's
    router (the same cached lookup Litestar makes next). Litestar's parameter types are dropped
    (``/orders/{order_id:int}`` → ``/orders/{order_id}``). A request no route matches gets the
    method alone as its name and no ``http.route``, as the HTTP semantic conventions say — raw paths
    would make one series per id.
    """
    method = str(scope.get("method") or "").strip()
    template = _route_template(scope)
    if template is None:
        return method or str(scope.get("type", "request")), {}
    template = _PARAM_TYPE.sub(r"{\1}", template)
    return (f"{method} {template}" if method else template), {"http.route": template}


def litestar_otel_config(*, tracer_provider: TracerProvider | None = None,
                         meter_provider: MeterProvider | None = None,
                         exclude: list[str] | None = None) -> OpenTelemetryConfig:
    """``OpenTelemetryConfig`` for ``litestar.plugins.opentelemetry.OpenTelemetryPlugin``.

    Route-template span names (see :func:`route_span_details`), no ``send``/``receive`` spans, and the
    paths matching the regexes in ``exclude`` left untraced.
    """
    from litestar.plugins.opentelemetry import OpenTelemetryConfig

    return OpenTelemetryConfig(tracer_provider=tracer_provider, meter_provider=meter_provider,
                               scope_span_details_extractor=route_span_details, exclude=exclude,
                               exclude_spans=["receive", "send"])


async def record_exception(exc: Exception, scope: Scope) -> None:
    """Litestar ``after_exception`` hook: put an unhandled error on the request's server span.

    Litestar turns handler exceptions into responses *inside* the OpenTelemetry middleware, so the
    middleware never sees them; this hook adds the ``exception`` event (type, message, stack trace)
    and sets the span status to ERROR — except for client errors (``HTTPException`` below 500).
    """
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    status = getattr(exc, "status_code", 500)
    if isinstance(status, int) and status < 500:
        return
    span = trace.get_current_span()
    span.record_exception(exc)
    # no description: the middleware sets ERROR again (without one) when the 500 goes out
    span.set_status(Status(StatusCode.ERROR))


def instrument_httpx(*, tracer_provider: TracerProvider | None = None) -> None:
    """Trace every httpx client in the process (CLIENT spans, ``traceparent`` injected)."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=tracer_provider)


def instrument_psycopg(*, tracer_provider: TracerProvider | None = None) -> None:
    """Trace every psycopg 3 connection opened from now on (CLIENT spans with ``db.*`` attributes)."""
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    instrumentor = PsycopgInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=tracer_provider, skip_dep_check=True)


def uninstrument_psycopg() -> None:
    """Undo :func:`instrument_psycopg`."""
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    instrumentor = PsycopgInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
