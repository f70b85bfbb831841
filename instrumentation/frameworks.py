"""Helpers that instrument the libraries a Python web service uses: ASGI apps, Litestar, httpx, psycopg.

* :func:`instrument_asgi` wraps any ASGI app in ``opentelemetry-instrumentation-asgi``'s middleware
  (one SERVER span per request; the per-message ``send``/``receive`` spans are left out).
* :func:`litestar_otel_config` gives Litestar's own OpenTelemetry plugin (which is built on that
  middleware) a span-details extractor that names spans ``GET /orders/{order_id}`` and sets
  ``http.route`` to the **route template**, as the HTTP semantic conventions require — Litestar's
  default puts the raw path there, which splits one endpoint into one series per id.
* :func:`instrument_httpx` traces outgoing httpx calls (CLIENT spans) and injects ``traceparent``.
* :func:`instrument_psycopg` traces psycopg 3 queries (CLIENT spans with ``db.*`` attributes).

Each takes optional providers; by default the global ones (see :func:`instrumentation.configure_otel`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

if TYPE_CHECKING:
    from litestar.plugins.opentelemetry import OpenTelemetryConfig
    from litestar.types import Scope


def instrument_asgi(app: Any, *, tracer_provider: TracerProvider | None = None,
                    meter_provider: MeterProvider | None = None, excluded_urls: str | None = None) -> Any:
    """Return ``app`` wrapped in the OpenTelemetry ASGI middleware (SERVER spans, HTTP server metrics)."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(app, excluded_urls=excluded_urls, tracer_provider=tracer_provider,
                                   meter_provider=meter_provider, exclude_spans=["receive", "send"])


def route_span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Span name and attributes for a Litestar request: ``"{METHOD} {route template}"`` and ``http.route``.

    Litestar sets ``scope["path_template"]`` once it has routed the request (its middleware runs after
    routing), so the template is known here; without one the path is used.
    """
    template = str(scope.get("path_template") or scope.get("path") or "").strip()
    method = str(scope.get("method") or "").strip()
    name = f"{method} {template}" if method else template
    return name, {"http.route": template}


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
