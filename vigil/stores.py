"""Store components: the metadata store (PostgreSQL) and the columnar store (chDB / ClickHouse).

Each has blocking ``open()``/``close(timeout)``, their async forms ``start()``/``stop(timeout)`` (run in a
worker thread) and ``health()``. Opening applies the store's migrations (idempotent, safe from several
processes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from clickhouse_connect.driver.client import Client

from storage.clickhouse.client import connect, is_embedded, protobuf_settings
from storage.clickhouse.inserter import ChunkInserter
from storage.clickhouse.migrations import Retention, migrate
from storage.clickhouse.part_guard import PartGuard
from storage.clickhouse.part_sweeper import PartSweeper
from storage.clickhouse.reader import ClickHouseReader
from storage.clickhouse.redaction import Redaction
from storage.clickhouse.redaction import load as load_redaction
from storage.postgres.server import embedded_url
from storage.postgres.store import PostgresMetadataStore
from vigil.sections import ColumnarConfig, MetadataConfig, PartGuardConfig

log = logging.getLogger("vigil")

DISK_FULL_BYTES = 64 * 1024 * 1024  # health calls the columnar store's disk full below this much room


def timed_check(check: Callable[[], None]) -> dict[str, Any]:
    """Run ``check``; ``{status: ok, latency_ms}`` or ``{status: error, error}``."""
    started = time.monotonic()
    try:
        check()
    except Exception as exc:  # noqa: BLE001 - health reports every failure
        return {"status": "error", "error": str(exc)[:300]}
    return {"status": "ok", "latency_ms": round((time.monotonic() - started) * 1000, 2)}


class MetadataComponent:
    """Vigil's PostgreSQL state: the external server at ``url`` or an embedded one under ``<data>/pg``."""

    name = "metadata"

    def __init__(self, cfg: MetadataConfig, version: str) -> None:
        """Configure; nothing is opened before :meth:`start`."""
        self.cfg = cfg
        self._version = version
        self._server: Any = None
        self.store: PostgresMetadataStore | None = None

    async def start(self) -> None:
        """:meth:`open` in a worker thread."""
        await asyncio.to_thread(self.open)

    async def stop(self, timeout: float) -> None:
        """:meth:`close` in a worker thread."""
        await asyncio.to_thread(self.close, timeout)

    def open(self) -> None:
        """Start (or attach to) the embedded server if configured, then migrate."""
        url = self.cfg.url
        if not url:
            url, self._server = embedded_url(self.cfg.data_path)
        self.store = PostgresMetadataStore(url)
        self.store.migrate(self._version)

    def close(self, timeout: float) -> None:
        """Detach from the embedded server (it stops when its last holder detaches)."""
        server, self._server = self._server, None
        if server is not None:
            server.cleanup()

    def health(self) -> dict[str, Any]:
        """Ping result and backend."""
        store = self.store
        report = timed_check(store.ping if store else _not_started)
        report["backend"] = "external" if self.cfg.url else "embedded"
        return report


class ColumnarComponent:
    """The columnar store: schema migrations, the reader, chunk sinks for the spool, the part guard."""

    name = "columnar"

    def __init__(self, cfg: ColumnarConfig, guard_cfg: PartGuardConfig) -> None:
        """Configure; nothing is opened before :meth:`start`."""
        self.cfg = cfg
        self.guard_cfg = guard_cfg
        self.redaction = Redaction()
        self.reader: ClickHouseReader | None = None
        self._guard: PartGuard | None = None
        self._sweeper: PartSweeper | None = None

    def connect(self) -> Client:
        """A new client handle on the store."""
        return connect(self.cfg.dsn)

    async def start(self) -> None:
        """:meth:`open` in a worker thread, then the background sweeper."""
        await asyncio.to_thread(self.open)
        self.start_background()

    async def stop(self, timeout: float) -> None:
        """:meth:`close` in a worker thread."""
        await asyncio.to_thread(self.close, timeout)

    def open(self) -> None:
        """Migrate the schema (retention, redaction views), then open the reader."""
        cfg = self.cfg
        self.redaction = load_redaction(cfg.redaction_file)
        admin = self.connect()
        retention = Retention(cfg.retention_traces_days, cfg.retention_logs_days, cfg.retention_metrics_days)
        migrate(admin, retention, self.redaction, cfg.cluster)
        admin.close()
        if self.guard_cfg.check_free_bytes > 0 and not cfg.cluster:  # replicas repair themselves
            self._guard = PartGuard(self.guard_cfg.check_free_bytes, local_files=is_embedded(cfg.dsn))
            self._sweeper = PartSweeper(self._guard, self.connect)
        self.reader = ClickHouseReader(self.connect, guard=self._guard)

    def start_background(self) -> None:
        """Start the sweeper thread (only when serving: ``vigil migrate`` must not leave a thread in chDB)."""
        if self._sweeper is not None:
            self._sweeper.start()

    def make_sink(self) -> ChunkInserter:
        """A chunk sink for one flattener thread (each gets its own handle)."""
        dsn = self.cfg.dsn
        return ChunkInserter(self.connect, lambda message: protobuf_settings(dsn, message), self._guard)

    def close(self, timeout: float) -> None:
        """Stop the sweeper (handles stay open: closing an embedded chDB handle closes the shared engine)."""
        if self._sweeper is not None:
            self._sweeper.stop(timeout)

    def health(self) -> dict[str, Any]:
        """Ping, backend, free disk and part-guard state; ``error`` while the disk is (nearly) full."""
        reader = self.reader
        report = timed_check(reader.ping if reader else _not_started)
        report["backend"] = "chdb" if is_embedded(self.cfg.dsn) else "clickhouse"
        if reader is not None and report["status"] == "ok":
            self._disk_health(reader, report)
        if self._guard is not None:
            report.update(_part_health(self._guard))
        return report

    @staticmethod
    def _disk_health(reader: ClickHouseReader, report: dict[str, Any]) -> None:
        try:
            free = reader.disk_free_bytes()
        except Exception:  # noqa: BLE001 - the ping just worked; a store without system.disks says nothing
            return
        report["disk_free_bytes"] = free
        if free is not None and free < DISK_FULL_BYTES:
            report.update(status="error",
                          error=f"columnar store disk full ({free} bytes free): data is spooled, not stored")


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


def _not_started() -> None:
    raise RuntimeError("not started")
