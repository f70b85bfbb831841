"""Listener components: the query API and OTLP/HTTP (uvicorn) and OTLP/gRPC servers, plus the spool.

Listeners are async: ``await start()`` returns once the port is bound (or raises), ``await stop(timeout)``
stops accepting and drains requests under way. The spool component wraps the ingest
:class:`~storage.spool.writer.SpoolingWriter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Generator
from typing import Any

import grpc
import uvicorn

from storage.spool.writer import SpoolingWriter
from vigil.sections import SpoolConfig
from vigil.selfmetrics import SelfMetrics
from vigil.stores import ColumnarComponent


class _Server(uvicorn.Server):
    """uvicorn server that leaves signal handling to the composition root (several run in one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ListenerFailed(RuntimeError):
    """A listener could not start (e.g. its port was taken between the pre-check and the bind)."""


class UvicornListener:
    """An ASGI app on ``host:port``; ``name`` is the component name."""

    def __init__(self, name: str, app: Any, host: str, port: int, **options: Any) -> None:
        """Configure the server; nothing is bound before :meth:`start`."""
        self.name = name
        self.address = f"{host}:{port}"
        self._server = _Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                              log_config=None, **options))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind and serve in a task; return once bound."""
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                exc = self._task.exception() if not self._task.cancelled() else None
                raise ListenerFailed(f"{self.name} could not listen on {self.address}: {exc or 'exited'}")
            await asyncio.sleep(0.02)

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The serving task (done when the server stopped or crashed)."""
        return self._task

    async def stop(self, timeout: float) -> None:
        """Stop accepting, let requests under way finish (at most ``timeout`` s)."""
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):  # a timeout, or the server's own failure (reported by run)
                await asyncio.wait_for(asyncio.shield(self._task), timeout)

    def health(self) -> None:
        """Listeners add nothing to health (a running API answers it)."""
        return None


class GrpcListener:
    """The OTLP/gRPC server (already built, not started)."""

    name = "otlp_grpc"

    def __init__(self, server: grpc.aio.Server, address: str) -> None:
        """Wrap ``server``."""
        self._server = server
        self.address = address
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start serving (the port was bound when the server was built)."""
        await self._server.start()

    async def stop(self, timeout: float) -> None:
        """Refuse new calls, give calls under way ``timeout`` seconds."""
        await self._server.stop(grace=timeout)

    def health(self) -> None:
        """Nothing to add."""
        return None


class SpoolComponent:
    """The ingest spool: acknowledges durable requests, flattens them into the columnar store."""

    name = "ingest"

    def __init__(self, cfg: SpoolConfig, columnar: ColumnarComponent, observer: SelfMetrics) -> None:
        """Open the spool directory (recovering segments of an earlier run); threads start in :meth:`start`."""
        self.writer = SpoolingWriter(
            cfg.path, columnar.make_sink,
            flatten_max_rows=cfg.flatten_max_rows, flatten_max_bytes=cfg.flatten_max_bytes,
            flatten_linger_ms=cfg.flatten_linger_ms, fsync=cfg.fsync,
            max_inflight_bytes=cfg.max_inflight_bytes, spool_max_bytes=cfg.max_bytes, observer=observer,
        )
        writer = self.writer
        observer.watch_writer(lambda: writer.stats)

    async def start(self) -> None:
        """Start the append and flattener threads."""
        self.writer.start()

    async def stop(self, timeout: float) -> None:
        """Spool what is queued, store the backlog for up to ``timeout`` s; the rest waits for the next start."""
        await asyncio.to_thread(self.writer.close, timeout)

    def health(self) -> dict[str, Any]:
        """Ingest counters and backlog; ``error`` while the latest chunk failed (for 30 s)."""
        s = self.writer.stats
        failing = s.last_failure > s.last_success and time.monotonic() - s.last_failure < 30
        report: dict[str, Any] = {"status": "error" if failing else "ok"}
        if failing:
            report["error"] = f"last batch failed: {s.last_error}"
        report.update({
            "batches": s.batches, "rows": s.rows,
            "mean_flush_ms": round(s.flush_seconds_total / s.batches * 1000, 1) if s.batches else None,
            "inflight_bytes": s.inflight_bytes_now, "queued_requests": s.queued_requests_now,
            "spool_backlog_bytes": s.backlog_bytes_now, "spool_failures": s.spool_failures,
            "dead_letters": s.dead_letters,
        })
        report["signals"] = {name: {"ingest_backlog_records": b.records, "ingest_lag_seconds": round(b.lag_seconds, 3)}
                             for name, b in self.writer.backlog().items()}
        return report
