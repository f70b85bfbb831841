"""The Vigil host agent: this host's ``system.*`` metrics, exported over OTLP like any third-party app.

* :class:`AgentOptions` — where and how to send: explicit values, else the standard ``OTEL_*`` variables,
  else ``http/protobuf`` to ``http://localhost:4318`` every 10 s.
* :func:`start_host_metrics` — an own ``MeterProvider`` (never the global one), periodic reader and OTLP
  exporter, no signal handlers: the Vigil server can run it in-process. ``shutdown()`` flushes once.
* :func:`run_agent` — the foreground agent of ``vigil agent`` / ``python -m instrumentation.agent``.

Failures: the SDK's exporters retry on their own and log every attempt (some with tracebacks). The
exporter here wraps the real one, keeps those records out of the log (DEBUG shows them) and logs one
line when an outage starts (``vigil agent: cannot reach URL (connection refused); retrying every 10s``)
and one when it ends. The OTLP timeout, unless ``OTEL_EXPORTER_OTLP[_METRICS]_TIMEOUT`` is set, is half
the interval within [1 s, 10 s]: exports carry cumulative values, so a dropped batch loses resolution only.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import Any
from urllib.parse import unquote, urlsplit

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from instrumentation.hostmetrics import HostMetrics, host_resource_attributes, install_host_metrics

PROTOCOLS = ("http/protobuf", "grpc")
DEFAULT_ENDPOINTS = {"http/protobuf": "http://localhost:4318", "grpc": "http://localhost:4317"}
DEFAULT_INTERVAL_S = 10.0
SERVICE_NAME = "vigil-agent"
EXPORTER_LOGGERS = tuple(f"opentelemetry.exporter.otlp.{m}" for m in (  # where the exporters log each attempt
    "proto.http.metric_exporter", "common.http", "proto.grpc.exporter", "proto.grpc.metric_exporter"))
from instrumentation.agent_diagnosis import describe_failure, probe_endpoint  # noqa: E402,F401 - re-exported

log = logging.getLogger("instrumentation.agent")  # also when run as __main__


class AgentConfigError(ValueError):
    """An invalid setting; the message starts with its source (a flag or environment variable)."""


def parse_pairs(text: str, source: str) -> dict[str, str]:
    """``k=v,k2=v2`` (the ``OTEL_EXPORTER_OTLP_HEADERS``/``OTEL_RESOURCE_ATTRIBUTES`` format, values URL-encoded).

    Raises:
        AgentConfigError: An entry without ``=`` or with an empty key, naming ``source``.
    """
    out: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        key, eq, value = entry.partition("=")
        if not eq or not key.strip():
            raise AgentConfigError(f"{source}: {entry[:40]!r} is not key=value (e.g. authorization=Bearer%20TOKEN)")
        out[key.strip()] = unquote(value.strip())
    return out


def parse_headers(text: str, source: str) -> dict[str, str]:
    """:func:`parse_pairs` with lower-case keys (as gRPC metadata requires)."""
    return {k.lower(): v for k, v in parse_pairs(text, source).items()}


def check_endpoint(url: str, source: str) -> str:
    """``url`` without a trailing slash, if it is an ``http(s)://host[:port][/path]`` URL.

    Raises:
        AgentConfigError: Another scheme, no host, or a bad port, naming ``source``.
    """
    parts = urlsplit(url.strip())
    try:
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:  # a port that is not a number in 0-65535
        valid = False
    if not valid:
        raise AgentConfigError(f"{source}: {url[:80]!r} is not an http:// or https:// URL with a host and valid port")
    return url.strip().rstrip("/")


def _first(env: Mapping[str, str], *names: str) -> tuple[str, str] | None:  # the first non-blank (name, value)
    return next(((n, env[n].strip()) for n in names if env.get(n, "").strip()), None)


@dataclass(frozen=True)
class AgentOptions:
    """Resolved agent settings (build with :meth:`resolve`).

    Attributes:
        endpoint: The URL the exporter sends to: for ``http/protobuf`` the full ``…/v1/metrics`` URL,
            for ``grpc`` the server's URL.
        protocol: ``http/protobuf`` or ``grpc``.
        interval_s: Seconds between collections (and exports).
        headers: Sent with every export (lower-case keys).
        resource: The resource attributes of every metric.
    """

    endpoint: str
    protocol: str
    interval_s: float
    headers: dict[str, str] = field(default_factory=dict)
    resource: dict[str, str] = field(default_factory=dict)

    @classmethod
    def resolve(cls, endpoint: str | None = None, protocol: str | None = None, interval_s: float | None = None,
                headers: Mapping[str, str] | None = None, resource: Mapping[str, str] | None = None,
                environ: Mapping[str, str] | None = None) -> AgentOptions:
        """Explicit values first, then the environment, then defaults.

        Args:
            endpoint: Base URL, like ``OTEL_EXPORTER_OTLP_ENDPOINT``: ``/v1/metrics`` is appended for
                ``http/protobuf``. Else ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` (used as is), else
                ``OTEL_EXPORTER_OTLP_ENDPOINT`` (base), else localhost 4318 (HTTP) / 4317 (gRPC).
            protocol: Else ``OTEL_EXPORTER_OTLP_METRICS_PROTOCOL``, ``OTEL_EXPORTER_OTLP_PROTOCOL``, ``http/protobuf``.
            interval_s: Else ``OTEL_METRIC_EXPORT_INTERVAL`` (milliseconds), else 10 s.
            headers: Override ``OTEL_EXPORTER_OTLP_METRICS_HEADERS`` (else ``…_HEADERS``) key by key.
            resource: Overrides ``OTEL_RESOURCE_ATTRIBUTES``/``OTEL_SERVICE_NAME``, which override the
                detected ``host.*``/``os.*`` attributes, ``service.name=vigil-agent`` and
                ``service.instance.id`` = the host name (unless set).
            environ: The environment (default ``os.environ``).

        Raises:
            AgentConfigError: An invalid value, naming the argument or variable it came from.
        """
        env = os.environ if environ is None else environ
        proto_src = ("protocol", protocol) if protocol else _first(
            env, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
        proto = proto_src[1] if proto_src else PROTOCOLS[0]
        if proto not in PROTOCOLS:
            raise AgentConfigError(f"{proto_src[0] if proto_src else 'protocol'}: {proto[:40]!r} is not supported; "
                                   f"use {' or '.join(PROTOCOLS)}")
        signal_url = None if endpoint else _first(env, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
        if signal_url:
            url = check_endpoint(signal_url[1], signal_url[0])
        else:
            base = ("endpoint", endpoint) if endpoint else _first(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
            url = check_endpoint(base[1], base[0]) if base else DEFAULT_ENDPOINTS[proto]
            url += "/v1/metrics" if proto == "http/protobuf" else ""
        raw = env.get("OTEL_METRIC_EXPORT_INTERVAL", "").strip()
        try:
            interval = interval_s if interval_s is not None else float(raw) / 1000 if raw else DEFAULT_INTERVAL_S
        except ValueError:
            raise AgentConfigError(f"OTEL_METRIC_EXPORT_INTERVAL: {raw[:40]!r} is not milliseconds") from None
        if not interval > 0:
            raise AgentConfigError(f"interval: {interval} s is not positive")
        env_headers = _first(env, "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")
        merged = parse_headers(env_headers[1], env_headers[0]) if env_headers else {}
        merged.update({k.lower(): v for k, v in (headers or {}).items()})
        attrs = {**host_resource_attributes(), "service.name": SERVICE_NAME,
                 **parse_pairs(env.get("OTEL_RESOURCE_ATTRIBUTES", ""), "OTEL_RESOURCE_ATTRIBUTES")}
        if env.get("OTEL_SERVICE_NAME", "").strip():
            attrs["service.name"] = env["OTEL_SERVICE_NAME"].strip()
        attrs.update(resource or {})
        # one agent per host: the host name identifies the instance (PromQL's `instance` label), so the
        # series of several hosts stay apart and `target_info` joins to one host each
        attrs.setdefault("service.instance.id", str(attrs.get("host.name") or ""))
        return cls(url, proto, interval, merged, attrs)


def format_interval(seconds: float) -> str:
    """``10.0`` → ``10s``, ``0.25`` → ``250ms``, ``90`` → ``90s``."""
    return f"{seconds:g}s" if seconds >= 1 else f"{round(seconds * 1000)}ms"


class _Capture(logging.Filter):
    """Takes the exporter loggers' records emitted on a thread while it is inside an export."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def begin(self) -> None:
        self._local.records = []

    def end(self) -> list[logging.LogRecord]:
        records, self._local.records = self._local.records, None
        return list(records)

    def filter(self, record: logging.LogRecord) -> bool:
        records = getattr(self._local, "records", None)
        if records is not None:
            records.append(record)
        return records is None


class ObservedExporter(MetricExporter):
    """Delegates to an OTLP exporter; logs one line when exports start or stop failing.

    The periodic reader never calls :meth:`export` concurrently; other threads may read the counters.
    """

    def __init__(self, delegate: MetricExporter, options: AgentOptions) -> None:
        """Wrap ``delegate``, which sends as ``options`` say (used in the messages)."""
        super().__init__(preferred_temporality=delegate._preferred_temporality,
                         preferred_aggregation=delegate._preferred_aggregation)
        self._delegate = delegate
        self._where = options.endpoint
        self._every = format_interval(options.interval_s)
        self.capture = _Capture()
        self.succeeded, self.failed = 0, 0  # failed: consecutive failed exports (0 while reachable)
        self.last_error: str | None = None
        self._reached: bool | None = None  # whether the failing endpoint answered (None: not failing)
        self.closing = self._shut = False

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        """Export through the delegate; never raises (a failure is counted and reported)."""
        if self.closing and self.failed:
            log.info("vigil agent: exports to %s still failing; the last metrics are not sent", self._where)
            return MetricExportResult.FAILURE
        self.capture.begin()
        try:
            result, raised = self._delegate.export(metrics_data, timeout_millis=timeout_millis, **kwargs), []
        except Exception as exc:  # the SDK would log a traceback; the reason is enough
            result, raised = MetricExportResult.FAILURE, [f"{type(exc).__name__}: {exc}"]
        finally:
            messages = [r.getMessage() for r in self.capture.end()]
        for message in messages:
            log.debug("exporter: %s", message)
        if result is MetricExportResult.SUCCESS:
            self._succeeded()
        else:
            self._failed(describe_failure(messages + raised))
        return result

    def _succeeded(self) -> None:
        if self.failed:
            log.warning("vigil agent: %s reachable again after %d failed export(s); sending", self._where, self.failed)
        elif not self.succeeded:
            log.info("vigil agent: first export to %s succeeded", self._where)
        self.succeeded += 1
        self.failed, self.last_error, self._reached = 0, None, None

    def _failed(self, failure: tuple[str, bool] | None) -> None:
        self.failed += 1
        if failure is None and self._reached is not None:  # the outage goes on
            return
        reason, reached = failure or probe_endpoint(self._where)
        if reached != self._reached:  # an outage starts, or the endpoint now answers but refuses: one line
            what = f"export to {self._where} failed" if reached else f"cannot reach {self._where}"
            log.warning("vigil agent: %s (%s); retrying every %s", what, reason, self._every)
        elif reason != self.last_error:
            log.debug("vigil agent: export to %s still failing: %s", self._where, reason)
        self.last_error, self._reached = reason, reached

    def abort(self) -> None:
        """Stop retries under way (shuts the delegate down)."""
        if not self._shut:
            self._shut = True
            self._delegate.shutdown()

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Nothing is buffered here; ask the delegate."""
        return self._delegate.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Shut the delegate down (once)."""
        self.abort()


def _build_exporter(options: AgentOptions) -> MetricExporter:
    timeout = None
    if not _first(os.environ, "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
        timeout = min(10.0, max(1.0, options.interval_s / 2))
    if options.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter

        return GrpcExporter(endpoint=options.endpoint, insecure=options.endpoint.startswith("http://"),
                            headers=dict(options.headers), timeout=timeout)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExporter

    return HttpExporter(endpoint=options.endpoint, headers=dict(options.headers), timeout=timeout)


class AgentHandle:
    """A running agent (see :func:`start_host_metrics`)."""

    def __init__(self, options: AgentOptions) -> None:
        """Build and start the provider, reader, exporter and host instruments."""
        self.options = options
        self.exporter = ObservedExporter(_build_exporter(options), options)
        for name in EXPORTER_LOGGERS:
            logging.getLogger(name).addFilter(self.exporter.capture)
        reader = PeriodicExportingMetricReader(self.exporter, export_interval_millis=options.interval_s * 1000)
        sdk = {k: v for k, v in Resource.create().attributes.items() if k.startswith("telemetry.sdk.")}
        self.meter_provider = MeterProvider(metric_readers=[reader], resource=Resource({**sdk, **options.resource}),
                                            shutdown_on_exit=False)
        self.host_metrics: HostMetrics = install_host_metrics(self.meter_provider)
        self._lock, self._stopped = threading.Lock(), False

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Export once more (skipped while the endpoint is unreachable), then stop, within ~``timeout_s``."""
        with self._lock:
            stopped, self._stopped = self._stopped, True
        if stopped:
            return
        self.exporter.closing = True
        if self.exporter.failed:
            self.exporter.abort()
        self.meter_provider.shutdown(timeout_millis=timeout_s * 1000)
        self.host_metrics.close()
        for name in EXPORTER_LOGGERS:
            logging.getLogger(name).removeFilter(self.exporter.capture)


def start_host_metrics(options: AgentOptions) -> AgentHandle:
    """Collect and export this host's metrics every ``options.interval_s`` until :meth:`AgentHandle.shutdown`.

    No global provider, signal handler or atexit hook; its filter on the exporter loggers only holds back
    records emitted inside its own exports. Callable from any thread, several times.
    """
    return AgentHandle(options)


def run_agent(options: AgentOptions) -> int:
    """Run in the foreground until SIGTERM/SIGINT; must be called on the main thread.

    Returns:
        0 after a clean stop (final flush, shutdown), 1 if the agent could not start.
    """
    stop = threading.Event()
    got: list[str] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        got.append(signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            handle = start_host_metrics(options)
        except Exception as exc:  # a broken exporter setup: one line, no traceback
            log.error("vigil agent: cannot start: %s", exc)
            return 1
        log.info("vigil agent: sending host metrics of %s every %s to %s (%s)", options.resource.get("host.name"),
                 format_interval(options.interval_s), options.endpoint, options.protocol)
        while not stop.wait(1.0):
            pass
        log.info("vigil agent: %s received; flushing and stopping", got[0])
        handle.shutdown()
        log.info("vigil agent: stopped")
        return 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main() -> int:
    """``python -m instrumentation.agent``: configured by the ``OTEL_*`` environment only."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        options = AgentOptions.resolve()
    except AgentConfigError as exc:
        print(f"vigil agent: invalid {exc}", file=sys.stderr)
        return 2
    return run_agent(options)


if __name__ == "__main__":
    sys.exit(main())
