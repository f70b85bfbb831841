"""Composition root: build the role's components from the config (see :mod:`vigil.modules`), run them.

No import-time singletons: everything is constructed in :class:`Vigil` from a :class:`Config`. Before
any store is opened, :meth:`Vigil.preflight` takes the data-directory lock and checks the ports, so a
second instance fails in one line. Shutdown (SIGTERM/SIGINT) stops components in reverse start order —
listeners stop accepting and drain, the spool stores its backlog, the stores close — bounded by
``shutdown_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any, TypeVar

from alerts.api import AlertingController, alert_summary
from alerts.evaluator import RuleEvaluator, Union
from alerts.notify_config import NotifyConfigFile
from alerts.rules_dir import RuleSet
from alerts.scheduler import AlertScheduler
from contracts.events import InProcessEventBus
from dashboard.router import static_router
from query.api import build_app
from query.apm.database_models import DatabaseSettings
from query.apm.errors_models import ErrorSettings
from query.apm.insights_models import InsightSettings
from query.apm.requests_models import ApiSettings
from query.apm.snapshot import dashboard_snapshot
from query.apm.system_models import SystemSettings
from query.auth import auth_required
from query.promql.columnar import ColumnarSource
from query.promql.engine import Engine
from query.promql_api import LOOKBACK_MS
from receiver.auth import Authenticator, load_tokens
from receiver.cors import CorsPolicy
from receiver.grpc_server import build_server
from receiver.handler import IngestHandler
from receiver.http import OtlpHttpApp
from receiver.rum_endpoint import RumEndpoint
from storage.postgres.leader import AdvisoryLease
from vigil import __version__
from vigil.config import Config, display_host
from vigil.errortracker import ErrorTracker
from vigil.hostmetrics import HostMetricsComponent
from vigil.listeners import GrpcListener, SpoolComponent, UvicornListener
from vigil.livefeed import LiveSnapshots
from vigil.modules import Builder, Component, Runtime, switched_off
from vigil.preflight import InstanceLock, StartupConflict, busy_ports
from vigil.selfmetrics import SelfMetrics
from vigil.selftelemetry import FlushingApi, SelfTelemetry, api_plugins, untraced
from vigil.stores import ColumnarComponent, MetadataComponent

log = logging.getLogger("vigil")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
T = TypeVar("T")


class Vigil:
    """One Vigil process of ``cfg.role``."""

    def __init__(self, cfg: Config) -> None:
        """Configure; nothing is opened before :meth:`run` or :meth:`migrate`."""
        self.cfg = cfg
        self.selfmetrics = SelfMetrics()
        self.bus = InProcessEventBus()  # live events of this process (Redis once several processes run)
        self.runtime = Runtime(cfg.role, self.builders(), switched_off(cfg))
        self._lock = InstanceLock(self._locked_dirs())
        self._stop = asyncio.Event()

    # ------------------------------------------------------------------ the module builders
    def builders(self) -> dict[str, Builder]:
        """How each module of :data:`vigil.modules.MODULES` is made from the components before it."""
        cfg = self.cfg
        return {
            "self_telemetry": lambda _: SelfTelemetry(cfg.self_telemetry_section, __version__),
            "metadata": lambda _: MetadataComponent(cfg.metadata, __version__),
            "columnar": lambda _: ColumnarComponent(cfg.columnar, cfg.part_guard),
            "ingest": lambda c: SpoolComponent(cfg.spool, _get(c, "columnar", ColumnarComponent), self.selfmetrics),
            "otlp_grpc": self._grpc,
            "otlp_http": self._http,
            "host_metrics": lambda _: HostMetricsComponent(cfg.host_metrics_section),
            "live": self._live,
            "error_tracker": self._error_tracker,
            "alerts": self._alerts,
            "api": self._api,
        }

    def _handler(self, built: dict[str, Component]) -> tuple[IngestHandler, Authenticator]:
        rc = self.cfg.receiver
        columnar = _get(built, "columnar", ColumnarComponent)
        spool = _get(built, "ingest", SpoolComponent)
        handler = IngestHandler(spool.writer, rc.retention_days, self.selfmetrics,
                                max_attributes=columnar.redaction.max_attributes)
        return handler, Authenticator(load_tokens(rc.auth_tokens, rc.auth_tokens_file))

    def _grpc(self, built: dict[str, Component]) -> Component:
        rc = self.cfg.receiver
        handler, auth = self._handler(built)
        server = build_server(handler, rc.host, rc.grpc_port, rc.max_request_bytes, auth)
        return GrpcListener(server, f"{rc.host}:{rc.grpc_port}")

    def _http(self, built: dict[str, Component]) -> Component:
        rc = self.cfg.receiver
        handler, auth = self._handler(built)
        cors = CorsPolicy(list(rc.cors_allowed_origins))
        app = OtlpHttpApp(handler, rc.max_request_bytes, auth, cors, RumEndpoint(handler, cors, auth.enabled))
        return UvicornListener("otlp_http", app, rc.host, rc.http_port, lifespan="off", timeout_keep_alive=30,
                               limit_concurrency=1024)

    def _api(self, built: dict[str, Component]) -> Component:
        api = self.cfg.api
        columnar = _get(built, "columnar", ColumnarComponent)
        assert columnar.reader is not None
        spool = built.get("ingest")
        # Freshness needs this process's spool: a receiver-only or query-only process reads data that other
        # processes acknowledged, and cannot know what they still hold (the API then says so).
        progress = spool.writer if isinstance(spool, SpoolComponent) and self.cfg.role == "all" else None
        metadata = _get(built, "metadata", MetadataComponent)
        auth = auth_required(api.auth, api.host)
        if auth:
            _announce_auth(metadata, api.host)
        alerting = built.get("alerts")
        extra: list[Any] = [AlertingController] if isinstance(alerting, AlertScheduler) else []
        deps = self.api_dependencies(built)
        if isinstance(alerting, AlertScheduler):  # PromQL sees the recording rules' outputs of this process
            source = Union(ColumnarSource(columnar.reader), alerting.evaluator.recorded)
            deps.update(alerting=alerting, promql=Engine(source, lookback_ms=LOOKBACK_MS),
                        active_alerts=lambda: alert_summary(alerting))
        app = build_app(columnar.reader, self.health, self.selfmetrics.exposition, progress=progress,
                        read_after_write_timeout_s=api.read_after_write_timeout_s, dashboard=static_router(),
                        plugins=api_plugins(built), metadata=metadata.store, bus=self.bus,
                        dependencies=deps, auth=auth, extra_routes=extra)
        listener = UvicornListener("api", app, api.host, api.port)
        telemetry = built.get("self_telemetry")
        return FlushingApi(listener, telemetry) if isinstance(telemetry, SelfTelemetry) else listener

    def _live(self, built: dict[str, Component]) -> Component:
        columnar = _get(built, "columnar", ColumnarComponent)
        reader = columnar.reader
        assert reader is not None
        return LiveSnapshots(self.bus, lambda: dashboard_snapshot(reader), self.cfg.live_snapshot_interval_s)

    def _error_tracker(self, built: dict[str, Component]) -> Component:
        reader = _get(built, "columnar", ColumnarComponent).reader
        store = _get(built, "metadata", MetadataComponent).store
        assert reader is not None and store is not None
        return ErrorTracker(self.bus, reader, store, self.cfg.error_scan_interval_s)

    def _alerts(self, built: dict[str, Component]) -> Component:
        cfg = self.cfg
        reader = _get(built, "columnar", ColumnarComponent).reader
        store = _get(built, "metadata", MetadataComponent).store
        assert reader is not None and store is not None
        evaluator = RuleEvaluator(ColumnarSource(reader), store.alerting, self.bus,
                                  default_interval_ms=int(cfg.evaluation_interval_s * 1000),
                                  external_url=cfg.external_url)
        rules = RuleSet(Path(cfg.rules) if cfg.rules else None)
        notify = NotifyConfigFile(Path(cfg.alerting_config)) if cfg.alerting_config else None
        return AlertScheduler(evaluator, rules, AdvisoryLease(store.url), notify=notify)

    def api_dependencies(self, built: dict[str, Component]) -> dict[str, Any]:
        """Settings and services the API's feature controllers receive by name (one entry per feature)."""
        cfg = self.cfg
        return {"api_settings": ApiSettings(cfg.apdex_t_ms, cfg.sla_target_percent, cfg.slow_request_ms),
                "error_settings": ErrorSettings.of(cfg),
                "database_settings": DatabaseSettings(cfg.slow_query_ms),
                "system_settings": SystemSettings(cfg.cpu_warning_percent, cfg.cpu_critical_percent,
                                                  cfg.memory_warning_percent, cfg.memory_critical_percent,
                                                  cfg.disk_warning_percent, cfg.disk_critical_percent),
                "insight_settings": InsightSettings(slow_endpoint_ms=cfg.slow_endpoint_ms,
                                                    n_plus_one_min=cfg.n_plus_one_min)}

    def health(self) -> dict[str, Any]:
        """The combined health of every running component, with the version.

        With OTLP receivers, ``components.otlp`` says where to send data (the dashboard's empty state
        shows it).
        """
        report = untraced(self.runtime.health)  # a health probe leaves no trace, not even its store pings
        cfg = self.cfg
        if "otlp_http" in self.runtime.components:
            host = display_host(cfg.host)
            report["components"]["otlp"] = {"status": "ok", "http_endpoint": f"http://{host}:{cfg.otlp_http_port}",
                                             "grpc_endpoint": f"http://{host}:{cfg.otlp_grpc_port}"}
        return {**report, "version": __version__}

    # ------------------------------------------------------------------ lifecycle
    def _locked_dirs(self) -> list[Path]:
        dirs = [self.cfg.data_path]
        if self.cfg.role != "query" and self.cfg.spool_dir:
            dirs.append(self.cfg.spool_path)
        return dirs

    def preflight(self, listeners: bool) -> None:
        """Take the data-directory lock and (when serving) check every port; raise :class:`StartupConflict`."""
        self._lock.acquire()
        if not listeners:
            return
        cfg = self.cfg
        ports = [("--port", cfg.port)]
        if cfg.role != "query":
            ports += [("--otlp-grpc-port", cfg.otlp_grpc_port), ("--otlp-http-port", cfg.otlp_http_port)]
        busy = busy_ports(cfg.host, ports)
        if busy:
            self._lock.release()
            raise StartupConflict("; ".join(busy) + ": stop whatever listens there (another Vigil?) or choose "
                                  "other ports with the flags named")

    def request_stop(self) -> None:
        """Ask :meth:`run` / :meth:`migrate` to stop (signal handlers call this)."""
        self._stop.set()

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            # not on Windows' loop, nor off the main thread (tests drive run() there): then the caller stops us
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        # SIGHUP reloads the rule files; Windows has no SIGHUP (AttributeError): reload over the API there
        with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):
            loop.add_signal_handler(signal.SIGHUP, self.request_reload)

    def request_reload(self) -> None:
        """Reload the rule files (SIGHUP), when the alerts module runs."""
        scheduler = self.runtime.components.get("alerts")
        if isinstance(scheduler, AlertScheduler):
            log.info("SIGHUP: reloading the rule files")
            scheduler.request_reload()

    async def migrate(self) -> bool:
        """Apply both stores' migrations and stop; False when a signal interrupted it (stores still closed)."""
        self._stop = asyncio.Event()
        self._install_signals()
        self.preflight(listeners=False)
        try:
            builders = self.builders()
            for name in ("metadata", "columnar"):
                component = builders[name]({})
                assert isinstance(component, MetadataComponent | ColumnarComponent)
                opened = asyncio.create_task(asyncio.to_thread(component.open))
                stop = asyncio.create_task(self._stop.wait())
                await asyncio.wait([opened, stop], return_when=asyncio.FIRST_COMPLETED)
                await opened  # a store half-opened is closed properly, not abandoned
                stop.cancel()
                await asyncio.to_thread(component.close, 5.0)
                if self._stop.is_set():
                    return False
            return True
        finally:
            self._lock.release()

    async def run(self) -> None:
        """Serve until SIGTERM/SIGINT or a listener failure (raised as RuntimeError after the shutdown)."""
        self._stop = asyncio.Event()
        self._install_signals()
        self.preflight(listeners=True)
        try:
            await self._serve()
        finally:
            self._lock.release()

    async def _serve(self) -> None:
        starting = asyncio.create_task(self.runtime.start())
        stop = asyncio.create_task(self._stop.wait())
        await asyncio.wait([starting, stop], return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():  # a signal during start-up: finish starting, then stop everything cleanly
            with contextlib.suppress(Exception):
                await starting
        else:
            starting.result()  # raises a start failure (the runtime stopped what had started)
        if not self._stop.is_set():
            self._warn_exposed()
            log.info("%s", ready_message(self.cfg))
        tasks = [t for c in self.runtime.components.values() if (t := getattr(c, "task", None)) is not None]
        done, _ = await asyncio.wait([stop, *tasks], return_when=asyncio.FIRST_COMPLETED)
        failed = [t for t in done if t is not stop and not t.cancelled() and t.exception()]
        log.info("shutting down: draining in-flight requests (timeout %.0fs)", self.cfg.shutdown_timeout_s)
        await self.runtime.stop(self.cfg.shutdown_timeout_s)
        stop.cancel()
        log.info("stopped")
        if failed:
            raise RuntimeError("a listener failed") from failed[0].exception()

    def _warn_exposed(self) -> None:
        cfg = self.cfg
        if cfg.role != "query" and cfg.host not in LOCAL_HOSTS and not (cfg.auth_tokens or cfg.auth_tokens_file):
            log.warning("!!! OTLP ingest is listening on %s WITHOUT authentication: anyone who can reach this "
                        "host can write telemetry. Set VIGIL_AUTH_TOKENS or bind to 127.0.0.1. !!!", cfg.host)


def ready_message(cfg: Config) -> str:
    """What the user reads once every listener is bound: where to look, where to send, how to stop."""
    shown = display_host(cfg.host)
    lines = [f"Vigil {__version__} is ready (role {cfg.role}).",
             f"  Dashboard:  http://{shown}:{cfg.port}/   (API docs: http://{shown}:{cfg.port}/schema)"]
    if cfg.role != "query":
        lines += [f"  OTLP/HTTP:  http://{shown}:{cfg.otlp_http_port}   OTLP/gRPC: {shown}:{cfg.otlp_grpc_port}",
                  f"  Point an SDK at it:  export OTEL_EXPORTER_OTLP_ENDPOINT=http://{shown}:{cfg.otlp_http_port}"]
    lines += [f"  Data:       {cfg.data_path}", "  Ctrl-C to stop."]
    return "\n".join(lines)


def _announce_auth(metadata: MetadataComponent, host: str) -> None:
    """Say that the API checks tokens, and how to create the first admin token when there is none."""
    log.info("API authentication on (api_auth=required or non-loopback host %s): bearer tokens required", host)
    if metadata.store is not None and not metadata.store.tokens.has_admin():
        log.warning("no admin API token exists: create one with 'vigil token create --role admin --name NAME' "
                    "(same --data-dir / --postgres-url); until then only /api/health, /metrics, /schema and the "
                    "dashboard's files answer without a token")


def _get(built: dict[str, Component], name: str, kind: type[T]) -> T:
    component = built[name]
    if not isinstance(component, kind):
        raise TypeError(f"module {name} is a {type(component).__name__}, not a {kind.__name__}")
    return component
