"""One-line OpenTelemetry setup for a Python service: ``configure_otel(service_name="checkout")``.

Builds a tracer, a meter and a logger provider whose OTLP exporters are configured by the standard
``OTEL_*`` environment variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``…_PROTOCOL``, ``…_HEADERS``,
the per-signal variants, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_METRIC_EXPORT_INTERVAL``,
``OTEL_BSP_*``), or by the explicit arguments, which win. Spans and log records go through batch
processors; metrics through a periodic reader. Propagation is W3C ``traceparent``/``baggage``. A
``logging`` handler bridges the standard library's records into OTLP logs, so every record emitted
inside a span carries its trace and span ids.

Contract:

* With ``install_global=True`` (the default) the three providers become the process' global ones and
  the logging bridge is attached to the root logger; :meth:`Otel.shutdown` flushes and detaches them.
* Unless ``OTEL_SEMCONV_STABILITY_OPT_IN`` is already set, it is set to ``http,database`` before any
  instrumentation is created, so the ASGI, httpx and psycopg instrumentations emit the stable
  semantic conventions (``http.request.method``, ``http.response.status_code``, ``db.system.name``,
  ``db.query.text``…) that Vigil's analytics read first. The instrumentations fix that mode once per
  process, when the first of them is built: call ``configure_otel`` before instrumenting anything.
* ``protocol`` ``http/protobuf`` (default) appends ``/v1/traces`` etc. to a base ``endpoint``;
  ``grpc`` uses the endpoint as is.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from opentelemetry import metrics, propagate, trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

PROTOCOLS = ("http/protobuf", "grpc")
SIGNAL_PATHS = {"traces": "/v1/traces", "metrics": "/v1/metrics", "logs": "/v1/logs"}


def _protocol(explicit: str | None) -> str:
    protocol = explicit or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    if protocol not in PROTOCOLS:
        raise ValueError(f"OTLP protocol {protocol!r} is not supported; use one of {', '.join(PROTOCOLS)}")
    return protocol


def _signal_endpoint(endpoint: str | None, signal: str, protocol: str) -> str | None:
    """The explicit base endpoint for one signal, or None to let the exporter read the env vars."""
    if not endpoint:
        return None
    if protocol == "grpc":
        return endpoint
    return endpoint.rstrip("/") + SIGNAL_PATHS[signal]


def _exporters(endpoint: str | None, protocol: str,
               headers: dict[str, str] | None) -> tuple[SpanExporter, MetricExporter, LogRecordExporter]:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans

        insecure = bool(endpoint and endpoint.startswith("http://")) or None
        return (GrpcSpans(endpoint=_signal_endpoint(endpoint, "traces", protocol), headers=headers, insecure=insecure),
                GrpcMetrics(endpoint=_signal_endpoint(endpoint, "metrics", protocol), headers=headers,
                            insecure=insecure),
                GrpcLogs(endpoint=_signal_endpoint(endpoint, "logs", protocol), headers=headers, insecure=insecure))
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return (OTLPSpanExporter(endpoint=_signal_endpoint(endpoint, "traces", protocol), headers=headers),
            OTLPMetricExporter(endpoint=_signal_endpoint(endpoint, "metrics", protocol), headers=headers),
            OTLPLogExporter(endpoint=_signal_endpoint(endpoint, "logs", protocol), headers=headers))


@dataclass
class Otel:
    """The providers :func:`configure_otel` built; :meth:`shutdown` flushes and stops all of them."""

    resource: Resource
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    logging_handler: LoggingHandler | None = None
    _closed: bool = field(default=False, repr=False)

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        """Export everything buffered now; True when every provider finished within the timeout."""
        millis = int(timeout_s * 1000)
        spans = self.tracer_provider.force_flush(millis)
        logs = self.logger_provider.force_flush(millis)
        return bool(spans and logs and self.meter_provider.force_flush(millis))

    def shutdown(self) -> None:
        """Flush and shut down the providers and detach the logging bridge (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.logging_handler is not None:
            logging.getLogger().removeHandler(self.logging_handler)
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        self.logger_provider.shutdown()


def configure_otel(service_name: str, *, endpoint: str | None = None, protocol: str | None = None,
                   headers: dict[str, str] | None = None, resource_attributes: dict[str, str] | None = None,
                   metric_interval_s: float | None = None, log_level: int = logging.INFO,
                   install_global: bool = True) -> Otel:
    """Set up traces, metrics and logs for ``service_name`` exported over OTLP; return the providers.

    Args:
        service_name: ``service.name`` of the resource (overrides ``OTEL_SERVICE_NAME``).
        endpoint: base OTLP endpoint (``http://host:4318``); None reads the ``OTEL_EXPORTER_OTLP_*`` vars.
        protocol: ``http/protobuf`` or ``grpc``; None reads ``OTEL_EXPORTER_OTLP_PROTOCOL``.
        headers: exporter headers (e.g. ``{"authorization": "Bearer …"}``); None reads the env vars.
        resource_attributes: more resource attributes, merged over ``OTEL_RESOURCE_ATTRIBUTES``.
        metric_interval_s: metric export interval; None reads ``OTEL_METRIC_EXPORT_INTERVAL`` (60 s).
        log_level: the lowest ``logging`` level bridged into OTLP logs.
        install_global: make the providers global and bridge the root logger (see the module doc).

    Raises:
        ValueError: for an unsupported protocol.
    """
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http,database")
    chosen = _protocol(protocol)
    resource = Resource.create({**(resource_attributes or {}), "service.name": service_name})
    span_exporter, metric_exporter, log_exporter = _exporters(endpoint, chosen, headers)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    interval_ms = None if metric_interval_s is None else metric_interval_s * 1000
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=interval_ms)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
    otel = Otel(resource, tracer_provider, meter_provider, logger_provider)
    if install_global:
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
        set_logger_provider(logger_provider)
        propagate.set_global_textmap(CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()]))
        otel.logging_handler = LoggingHandler(level=log_level, logger_provider=logger_provider)
        root = logging.getLogger()
        root.addHandler(otel.logging_handler)
        if root.level > log_level or root.level == logging.NOTSET:
            root.setLevel(log_level)
    return otel
