"""Run one demo-shop service as its own process: ``python -m instrumentation.demo.service checkout --port 3010``.

The process instruments itself exactly as a third-party app would: :func:`instrumentation.configure_otel`
(OTLP to ``--endpoint`` or the ``OTEL_EXPORTER_OTLP_*`` variables), Litestar's OpenTelemetry plugin
with route-template span names, httpx (calls to other services) and psycopg (its queries), and a
pool with ``db.client.connection.*`` metrics. ``/healthz`` is not traced, so readiness probes add no
spans. On SIGTERM/SIGINT uvicorn drains, then every buffered span, log and metric is flushed before
the process exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import signal
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

SERVICES = ("frontend", "checkout", "inventory", "payments")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m instrumentation.demo.service", description=__doc__)
    p.add_argument("name", choices=SERVICES)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--postgres-url", default="", help="the shop database (every service but frontend)")
    p.add_argument("--upstream", action="append", default=[], metavar="NAME=URL", help="another service's base URL")
    p.add_argument("--endpoint", default=None, help="OTLP/HTTP base URL (default: the OTEL_* variables)")
    p.add_argument("--metric-interval", type=float, default=5.0, metavar="SECONDS")
    p.add_argument("--rum-src", default="", help="URL of Vigil's rum.js for the shop page")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--decline-rate", type=float, default=0.08, help="share of payments the gateway declines")
    return p


def _upstreams(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, url = pair.partition("=")
        if not sep or not url:
            raise SystemExit(f"--upstream {pair!r}: expected NAME=URL")
        out[name] = url
    return out


def build(args: argparse.Namespace) -> Any:
    """Build the service's Litestar app (providers must already be configured)."""
    from litestar import Litestar, get
    from litestar.plugins.opentelemetry import OpenTelemetryPlugin
    from psycopg_pool import ConnectionPool

    from instrumentation.dbpool import InstrumentedPool
    from instrumentation.demo.backends import checkout_routes, inventory_routes, payments_routes
    from instrumentation.demo.common import Service
    from instrumentation.demo.frontend import frontend_routes
    from instrumentation.frameworks import litestar_otel_config, record_exception

    pool = None
    if args.name != "frontend":
        raw = ConnectionPool(args.postgres_url, min_size=1, max_size=4, kwargs={"autocommit": True},
                             name=f"{args.name}-db", open=False)
        pool = InstrumentedPool(raw, f"{args.name}-db")
    svc = Service(args.name, pool, _upstreams(args.upstream), random.Random(f"{args.seed}:{args.name}"))
    routes = {"frontend": lambda: frontend_routes(svc, args.rum_src), "inventory": lambda: inventory_routes(svc),
              "payments": lambda: payments_routes(svc, args.decline_rate), "checkout": lambda: checkout_routes(svc)}

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        if pool is not None:
            await asyncio.to_thread(pool.pool.open, True, 30.0)
        try:
            yield
        finally:
            await svc.close()

    @get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": args.name}

    plugin = OpenTelemetryPlugin(litestar_otel_config(exclude=["/healthz"]))
    return Litestar(route_handlers=[*routes[args.name](), healthz], plugins=[plugin],
                    after_exception=[record_exception], lifespan=[lifespan], logging_config=None, openapi_config=None)


def _server_class() -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, but a SIGTERM/SIGINT is not re-raised after shutdown.

        uvicorn re-raises the captured signal once it has drained, which kills the process before
        the telemetry still buffered in the SDK is flushed; here the caller flushes, then exits 0.
        """

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server


def main(argv: list[str] | None = None) -> int:
    """Configure OpenTelemetry, serve until signalled, flush; return the exit code."""
    args = _parser().parse_args(argv)
    from instrumentation.frameworks import instrument_httpx, instrument_psycopg
    from instrumentation.otel import configure_otel

    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s %(levelname)s {args.name}: %(message)s")
    for noisy in ("uvicorn.access", "httpx", "psycopg.pool"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    otel = configure_otel(args.name, endpoint=args.endpoint, metric_interval_s=args.metric_interval,
                          resource_attributes={"service.namespace": "vigil-demo",
                                               "deployment.environment.name": "demo",
                                               "service.version": "1.4.2"})
    instrument_httpx()
    instrument_psycopg()
    import uvicorn

    try:
        config = uvicorn.Config(build(args), host=args.host, port=args.port, log_level="warning",
                                access_log=False, lifespan="on")
        server = _server_class()(config)
        server.run()
        return 0 if server.started else 1
    finally:
        otel.shutdown()


if __name__ == "__main__":
    sys.exit(main())
