"""Store components: the metadata store (PostgreSQL) and the columnar store (chDB / ClickHouse).

Each has blocking ``open()``/``close(timeout)``, their async forms ``start()``/``stop(timeout)`` (run in a
worker thread) and ``health()``. Opening applies the store's migrations (idempotent, safe from several
processes).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from contracts.health import timed_check
from contracts.reader import TelemetryReader
from storage.clickhouse.client import connect, is_embedded
from storage.clickhouse.guarded import ColumnarStore, open_columnar
from storage.clickhouse.migrations import Retention, migrate
from storage.clickhouse.redaction import Redaction
from storage.clickhouse.redaction import load as load_redaction
from storage.postgres.server import embedded_url
from storage.postgres.store import PostgresMetadataStore
from storage.spool.sink import ChunkSink
from vigil.sections import ColumnarConfig, MetadataConfig, PartGuardConfig

log = logging.getLogger("vigil")

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
        """Close the store's pool, then detach from the embedded server (it stops when its last holder detaches)."""
        if self.store is not None:
            self.store.close()
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
    """The columnar store: schema migrations, then the (guarded) reader, chunk sinks and part guard."""

    name = "columnar"

    def __init__(self, cfg: ColumnarConfig, guard_cfg: PartGuardConfig) -> None:
        """Configure; nothing is opened before :meth:`start`."""
        self.cfg = cfg
        self.guard_cfg = guard_cfg
        self.redaction = Redaction()
        self.store: ColumnarStore | None = None

    @property
    def reader(self) -> TelemetryReader | None:
        """The read side (None before :meth:`open`)."""
        return self.store.reader if self.store is not None else None

    async def start(self) -> None:
        """:meth:`open` in a worker thread, then the background sweeper."""
        await asyncio.to_thread(self.open)
        assert self.store is not None
        self.store.start()

    async def stop(self, timeout: float) -> None:
        """:meth:`close` in a worker thread."""
        await asyncio.to_thread(self.close, timeout)

    def open(self) -> None:
        """Migrate the schema (retention, redaction views), then open the store (nothing runs in background)."""
        cfg = self.cfg
        self.redaction = load_redaction(cfg.redaction_file)
        admin = connect(cfg.dsn)
        retention = Retention(cfg.retention_traces_days, cfg.retention_logs_days, cfg.retention_metrics_days)
        migrate(admin, retention, self.redaction, cfg.cluster)
        admin.close()
        self.store = open_columnar(cfg.dsn, self.guard_cfg.check_free_bytes, cfg.cluster, cfg.links_interval_s)

    def make_sink(self) -> ChunkSink:
        """A chunk sink for one flattener thread (each gets its own handle)."""
        assert self.store is not None, "columnar store not open"
        return self.store.make_sink()

    def close(self, timeout: float) -> None:
        """Stop the sweeper and restart merges the guard stopped.

        Handles stay open: closing an embedded chDB handle closes the engine this process shares.
        """
        if self.store is not None:
            self.store.stop(timeout)

    def health(self) -> dict[str, Any]:
        """Ping, backend, free disk and part-guard state; ``error`` while the disk is (nearly) full."""
        if self.store is None:
            return {"status": "error", "error": "not started",
                    "backend": "chdb" if is_embedded(self.cfg.dsn) else "clickhouse"}
        return self.store.health()


def _not_started() -> None:
    raise RuntimeError("not started")
