"""Vigil's traces of itself (``self_telemetry=on``): its query API and PostgreSQL calls, as ``service.name=vigil``.

What is traced: every request to the API port (one SERVER span named ``GET /api/traces/{trace_id}``
with ``http.route`` the route template, 5xx errors recorded on it) except the polling endpoints
``/api/health`` and ``/metrics``,
and every psycopg call (CLIENT spans with ``db.system.name=postgresql``): migrations at start, and any
endpoint that reads the metadata store. The health check's own PostgreSQL ping runs untraced
(:func:`untraced`), so a probe leaves no trace at all. Nothing of the ingest path is ever traced — the
OTLP receivers, the spool, the flatteners and the columnar inserts create no spans, so exporting to
ourselves cannot feed back.

Where spans go: this process's own OTLP/HTTP port (``http://<host>:<otlp_http_port>``, the first ingest
token as bearer), unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set:
then the standard ``OTEL_*`` variables (endpoint, headers, protocol) choose another backend.

The providers are Vigil's own (``install_global=False``): no global tracer provider and no logging
bridge, so Vigil's logs are not exported and the process' OpenTelemetry globals stay free.
:class:`FlushingApi` wraps the API listener: it flushes once the API is bound (every other listener,
our receiver included, is up by then) and again once the API has drained, while our receiver still
runs — the component's own stop comes last, when nothing is left to send.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from litestar.plugins import PluginProtocol
from litestar.plugins.opentelemetry import OpenTelemetryPlugin
from litestar.types import Scope
from opentelemetry.instrumentation.utils import suppress_instrumentation

from instrumentation import Otel, configure_otel, instrument_psycopg, litestar_otel_config
from instrumentation.frameworks import record_exception, uninstrument_psycopg
from query.errors import BadRequest, NotFound
from receiver.auth import load_tokens
from vigil.modules import Component
from vigil.sections import SelfTelemetryConfig

log = logging.getLogger("vigil")
SERVICE_NAME = "vigil"
UNTRACED_PATHS = ("/api/health", "/metrics")  # polled by probes and scrapers: noise, not API use
ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
FLUSH_TIMEOUT_S = 5.0
T = TypeVar("T")


def bearer_headers(auth_tokens: str, auth_tokens_file: str) -> dict[str, str] | None:
    """``{"authorization": "Bearer <first ingest token>"}``, or None when ingest auth is off."""
    tokens = load_tokens(auth_tokens, auth_tokens_file)
    first = next(iter(tokens), None)
    return {"authorization": f"Bearer {first}"} if first else None


def untraced(check: Callable[[], T]) -> T:
    """Run ``check`` with OpenTelemetry instrumentation suppressed (the health probe's store pings)."""
    with suppress_instrumentation():
        return check()


class SelfTelemetry:
    """The ``self_telemetry`` module: Vigil's tracer provider, psycopg instrumentation, the API's plugins."""

    name = "self_telemetry"

    def __init__(self, cfg: SelfTelemetryConfig, version: str, env: Mapping[str, str] | None = None) -> None:
        """Configure; nothing is created before :meth:`start`."""
        env = os.environ if env is None else env
        self.cfg = cfg
        self.version = version
        self.external = next((v for v in ENDPOINT_VARS if env.get(v)), "")  # the env var that redirects spans
        self.otel: Otel | None = None

    @property
    def destination(self) -> str:
        """Where spans go, for health and logs."""
        return f"${self.external}" if self.external else f"{self.cfg.endpoint}/v1/traces"

    async def start(self) -> None:
        """Create the tracer provider and instrument psycopg (connections opened from now on)."""
        own = not self.external
        self.otel = configure_otel(
            SERVICE_NAME,
            endpoint=self.cfg.endpoint if own else None,
            protocol="http/protobuf" if own else None,  # our receiver speaks OTLP/HTTP whatever the env says
            headers=bearer_headers(self.cfg.auth_tokens, self.cfg.auth_tokens_file) if own else None,
            resource_attributes={"service.version": self.version, "host.name": socket.gethostname()},
            install_global=False,
        )
        instrument_psycopg(tracer_provider=self.otel.tracer_provider)
        log.info("self-telemetry: tracing the query API and PostgreSQL calls to %s", self.destination)

    def plugins(self) -> list[PluginProtocol]:
        """The query API's Litestar plugins: SERVER spans named after the route template, 5xx errors on them."""
        assert self.otel is not None, "self_telemetry not started"
        exclude = [f"^{path}/?$" for path in UNTRACED_PATHS]
        config = litestar_otel_config(tracer_provider=self.otel.tracer_provider, exclude=exclude)
        return [OpenTelemetryPlugin(dataclasses.replace(config, after_exception_hook_handler=record_server_error))]

    def flush(self, timeout_s: float = FLUSH_TIMEOUT_S) -> bool:
        """Export every finished span now (blocking); True when done in time."""
        return self.otel.force_flush(timeout_s) if self.otel is not None else True

    async def stop(self, timeout: float) -> None:
        """Stop tracing psycopg, flush and shut down the providers."""
        otel, self.otel = self.otel, None
        if otel is None:
            return
        uninstrument_psycopg()
        await asyncio.to_thread(otel.shutdown)

    def health(self) -> dict[str, Any]:
        """Where spans go and what is left out."""
        return {"status": "ok" if self.otel is not None else "error", "service_name": SERVICE_NAME,
                "exporting_to": self.destination, "untraced_paths": list(UNTRACED_PATHS)}


async def record_server_error(exc: Exception, scope: Scope) -> None:
    """Put an exception that becomes a 5xx answer on the request's span (the query API's 4xx errors stay off)."""
    if not isinstance(exc, BadRequest | NotFound):  # plain exceptions the API answers 400 / 404
        await record_exception(exc, scope)


class FlushingApi:
    """The API listener, flushing self-telemetry once bound and once drained (see the module doc)."""

    def __init__(self, listener: Component, telemetry: SelfTelemetry) -> None:
        """Wrap ``listener`` (the API's :class:`~vigil.listeners.UvicornListener`)."""
        self.listener = listener
        self.telemetry = telemetry
        self.name = listener.name
        self._startup_flush: asyncio.Task[bool] | None = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The listener's serving task."""
        task: asyncio.Task[None] | None = getattr(self.listener, "task", None)
        return task

    async def start(self) -> None:
        """Start the listener, then send the spans of the start-up (migrations) in the background."""
        await self.listener.start()
        self._startup_flush = asyncio.create_task(asyncio.to_thread(self.telemetry.flush))

    async def stop(self, timeout: float) -> None:
        """Drain the listener, then flush what its last requests traced (at most what is left of ``timeout``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await self.listener.stop(timeout)
        await asyncio.to_thread(self.telemetry.flush, max(0.5, min(FLUSH_TIMEOUT_S, deadline - loop.time())))

    def health(self) -> dict[str, Any] | None:
        """The listener's (nothing)."""
        return self.listener.health()


def api_plugins(built: Mapping[str, Component]) -> Sequence[PluginProtocol]:
    """The API's plugins from the ``self_telemetry`` module when it runs."""
    telemetry = built.get("self_telemetry")
    return telemetry.plugins() if isinstance(telemetry, SelfTelemetry) else ()
