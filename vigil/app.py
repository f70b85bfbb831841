"""Composition root: build storage from the config, hand the writer to the receivers and the reader
to the query API, run every listener in one asyncio loop, drain on SIGTERM/SIGINT.

No import-time singletons: everything is constructed in :class:`Vigil` from a :class:`Config`.
Shutdown order: stop accepting (gRPC grace + HTTP listeners close), flush the writer (every queued
request is committed and answered), then close stores — bounded by ``shutdown_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import uvicorn

from query.api import build_app
from receiver.auth import Authenticator, load_tokens
from receiver.cors import CorsPolicy
from receiver.grpc_server import build_server
from receiver.handler import IngestHandler
from receiver.http import OtlpHttpApp
from storage.clickhouse.client import connect, is_embedded, protobuf_settings
from storage.clickhouse.inserter import ChunkInserter
from storage.clickhouse.migrations import Retention, migrate
from storage.clickhouse.part_guard import PartGuard
from storage.clickhouse.part_sweeper import PartSweeper
from storage.clickhouse.reader import ClickHouseReader
from storage.clickhouse.redaction import Redaction
from storage.clickhouse.redaction import load as load_redaction
from storage.postgres.server import embedded_url
from storage.postgres.store import MetadataStore
from storage.spool.writer import SpoolingWriter
from vigil import __version__
from vigil.config import Config
from vigil.selfmetrics import SelfMetrics

log = logging.getLogger("vigil")

DISK_FULL_BYTES = 64 * 1024 * 1024  # health calls the columnar store's disk full below this much room


class _Server(uvicorn.Server):
    """uvicorn server that leaves signal handling to :class:`Vigil` (several run in one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Vigil:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._pg_server: Any = None
        self.metadata: MetadataStore | None = None
        self.writer: SpoolingWriter | None = None
        self.reader: ClickHouseReader | None = None
        self.sweeper: PartSweeper | None = None
        self.redaction = Redaction()
        self._stop = asyncio.Event()
        self.selfmetrics = SelfMetrics()

    # ------------------------------------------------------------------ stores
    def open_stores(self) -> None:
        """Start the embedded stores if configured, apply migrations to both (idempotent)."""
        cfg = self.cfg
        cfg.data_path.mkdir(parents=True, exist_ok=True)
        if cfg.postgres_url:
            url = cfg.postgres_url
        else:
            url, self._pg_server = embedded_url(cfg.data_path)
        self.metadata = MetadataStore(url)
        self.metadata.migrate(__version__)
        admin = connect(cfg.columnar_dsn)
        self.redaction = load_redaction(cfg.redaction_file)
        migrate(admin, self.retention, self.redaction, cfg.clickhouse_cluster)
        admin.close()
        dsn = cfg.columnar_dsn
        guard = None
        if cfg.part_check_free_bytes > 0 and not cfg.clickhouse_cluster:  # replicas repair themselves
            guard = PartGuard(cfg.part_check_free_bytes, local_files=is_embedded(dsn))
            self.sweeper = PartSweeper(guard, lambda: connect(dsn))
        if cfg.role != "query":
            self.writer = SpoolingWriter(
                cfg.spool_path,
                lambda: ChunkInserter(lambda: connect(dsn), lambda message: protobuf_settings(dsn, message), guard),
                flatten_max_rows=cfg.flatten_max_rows,
                flatten_max_bytes=cfg.flatten_max_bytes,
                flatten_linger_ms=cfg.flatten_linger_ms,
                fsync=cfg.spool_fsync,
                max_inflight_bytes=cfg.max_inflight_bytes,
                spool_max_bytes=cfg.spool_max_bytes,
                observer=self.selfmetrics,
            )
        if self.writer is not None:
            writer = self.writer
            self.selfmetrics.watch_writer(lambda: writer.stats)
        self.reader = ClickHouseReader(lambda: connect(dsn), guard=guard)

    @property
    def retention(self) -> Retention:
        c = self.cfg
        return Retention(c.retention_traces_days, c.retention_logs_days, c.retention_metrics_days)

    def health(self) -> dict[str, Any]:
        components: dict[str, Any] = {}
        for name, check in (("columnar", self.reader.ping if self.reader else None),
                            ("metadata", self.metadata.ping if self.metadata else None)):
            started = time.monotonic()
            try:
                if check is None:
                    raise RuntimeError("not started")
                check()
                components[name] = {"status": "ok", "latency_ms": round((time.monotonic() - started) * 1000, 2)}
            except Exception as exc:  # noqa: BLE001 - health reports every failure
                components[name] = {"status": "error", "error": str(exc)[:300]}
        components["columnar"]["backend"] = "chdb" if is_embedded(self.cfg.columnar_dsn) else "clickhouse"
        disk_full = self._disk_full(components["columnar"])
        if self.sweeper is not None:
            components["columnar"].update(self._part_health(self.sweeper.guard))
        components["metadata"]["backend"] = "external" if self.cfg.postgres_url else "embedded"
        if self.writer:
            s = self.writer.stats
            # Degraded while the latest batch failed, for 30 s (no traffic → no new evidence either way).
            failing = s.last_failure > s.last_success and time.monotonic() - s.last_failure < 30
            error = f"last batch failed: {s.last_error}" if failing else disk_full
            components["ingest"] = {
                "status": "error" if error else "ok",
                **({"error": error} if error else {}),
                "batches": s.batches,
                "rows": s.rows,
                "mean_flush_ms": round(s.flush_seconds_total / s.batches * 1000, 1) if s.batches else None,
                "inflight_bytes": s.inflight_bytes_now,
                "queued_requests": s.queued_requests_now,
                "spool_backlog_bytes": s.backlog_bytes_now,
                "spool_failures": s.spool_failures,
                "dead_letters": s.dead_letters,
            }
        ok = all(c.get("status") == "ok" for c in components.values())
        return {"status": "ok" if ok else "degraded", "version": __version__, "components": components}

    def _disk_full(self, columnar: dict[str, Any]) -> str:
        """Mark the columnar store unhealthy when its disk is (nearly) full — at once, not only after the
        next INSERT fails; the message (empty when there is room) also explains a stalled ingest."""
        if self.reader is None or columnar.get("status") != "ok":
            return ""
        try:
            free = self.reader.disk_free_bytes()
        except Exception:  # noqa: BLE001 - the ping just worked; a store without system.disks says nothing
            return ""
        columnar["disk_free_bytes"] = free
        if free is None or free >= DISK_FULL_BYTES:
            return ""
        message = f"columnar store disk full ({free} bytes free): data is spooled, not stored"
        columnar.update(status="error", error=message)
        return message

    @staticmethod
    def _part_health(guard: PartGuard) -> dict[str, Any]:
        """Damaged parts (a disk filled up mid-write) make the columnar store unhealthy until repaired."""
        s, damaged = guard.stats, guard.damaged_parts()
        out: dict[str, Any] = {"part_checks": "on" if guard.checking else "off",
                               "parts_checked": s.checked_parts, "damaged_inserts": s.damaged_inserts,
                               "restored_merges": s.restored_merges}
        if s.unrepaired:
            out["unrepaired"] = s.unrepaired
        if s.last_error:
            out["last_repair_error"] = s.last_error
        if damaged:
            out.update(status="error", damaged_parts=damaged,
                       error="parts damaged by a full disk are hidden from reads until repaired")
        return out

    def _before_read(self) -> Callable[[], Awaitable[None]] | None:
        """Read-your-writes for the query API: wait until what was acknowledged before a read is stored."""
        writer, timeout = self.writer, self.cfg.read_after_write_timeout_ms / 1000
        if writer is None or timeout <= 0 or self.cfg.role != "all":
            return None

        async def wait() -> None:
            if not await writer.wait_visible(timeout):
                log.warning("read served after %.1fs while acknowledged data is still being stored", timeout)

        return wait

    # ------------------------------------------------------------------ run
    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        cfg = self.cfg
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        await asyncio.to_thread(self.open_stores)
        assert self.reader
        servers = [
            _Server(uvicorn.Config(build_app(self.reader, self.health, self.selfmetrics.exposition,
                                             before_read=self._before_read()),
                                   host=cfg.host, port=cfg.port, log_level="warning", access_log=False)),
        ]
        grpc_server = None
        if self.sweeper is not None:
            self.sweeper.start()  # here, not in open_stores: `vigil migrate` must not leave a thread in chDB
        if self.writer is not None:
            self.writer.start()
            retention = {"traces": cfg.retention_traces_days, "logs": cfg.retention_logs_days,
                         "metrics": cfg.retention_metrics_days}
            handler = IngestHandler(self.writer, retention, self.selfmetrics,
                                    max_attributes=self.redaction.max_attributes)
            auth = Authenticator(load_tokens(cfg.auth_tokens, cfg.auth_tokens_file))
            cors = CorsPolicy(cfg.cors_allowed_origins.split(","))
            grpc_server = build_server(handler, cfg.host, cfg.otlp_grpc_port, cfg.max_request_bytes, auth)
            await grpc_server.start()
            servers.append(
                _Server(uvicorn.Config(OtlpHttpApp(handler, cfg.max_request_bytes, auth, cors), host=cfg.host,
                                       port=cfg.otlp_http_port, log_level="warning", access_log=False,
                                       lifespan="off", timeout_keep_alive=30, limit_concurrency=1024)))
            if cfg.host not in ("127.0.0.1", "localhost", "::1") and not auth.enabled:
                log.warning("!!! OTLP ingest is listening on %s WITHOUT authentication: anyone who can reach "
                            "this host can write telemetry. Set VIGIL_AUTH_TOKENS or bind to 127.0.0.1. !!!",
                            cfg.host)
            log.info("OTLP gRPC %s:%s, OTLP HTTP %s:%s", cfg.host, cfg.otlp_grpc_port, cfg.host, cfg.otlp_http_port)
        tasks = [asyncio.create_task(s.serve()) for s in servers]
        log.info("Vigil %s (role %s): API http://%s:%s (data: %s)", __version__, cfg.role, cfg.host, cfg.port,
                 cfg.data_path)
        stop = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait([stop, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not stop and t.exception():
                log.error("a listener failed: %r", t.exception())
        await self._shutdown(grpc_server, servers, tasks)
        failed = [t for t in done if t is not stop and t.exception()]
        if failed:
            raise RuntimeError("listener failed to start") from failed[0].exception()

    async def _shutdown(self, grpc_server: Any, servers: list[_Server], tasks: list[asyncio.Task[None]]) -> None:
        timeout = self.cfg.shutdown_timeout_s
        log.info("shutting down: draining in-flight requests (timeout %.0fs)", timeout)
        for s in servers:
            s.should_exit = True
        stopping = [grpc_server.stop(grace=timeout)] if grpc_server is not None else []
        drain = asyncio.gather(*stopping, *tasks, return_exceptions=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(drain, timeout)
        if self.writer:
            await asyncio.to_thread(self.writer.close, timeout)
        if self.sweeper:
            await asyncio.to_thread(self.sweeper.stop, timeout)
        log.info("stopped")
