"""The demo shop run once per session against a real Vigil: the fixture APM, alerting and dashboard tests use.

:func:`run_demo` starts a dedicated ``vigil serve`` (embedded stores, host metrics every second),
the shop (its database on the machine's PostgreSQL when reachable, else an embedded server), drives
it with the seeded load generator for a bounded time, stops the shop (every service flushes), and
waits until Vigil has stored every answered request. The returned :class:`DemoData` says what was
sent, so tests can compare Vigil's answers with the truth.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from instrumentation.demo.check import VigilApi, stored_responses
from instrumentation.demo.loadgen import LoadGenerator, LoadStats
from instrumentation.demo.schema import ensure_database
from instrumentation.demo.shop import Shop, free_port
from tests.pg import EXTERNAL_PG_ADMIN
from tests.vigil_process import VigilProcess

DEMO_RATE = 20.0
DEMO_SECONDS = 15.0
DEMO_SEED = 7
# the session's demo declines a quarter of payments, so every run has several payment errors
DEMO_DECLINE_RATE = 0.25


@dataclass
class DemoData:
    """A finished demo run: where its Vigil is, when the load ran, and exactly what it sent."""

    vigil: VigilProcess
    stats: LoadStats
    started_s: float
    ended_s: float
    shop_ports: dict[str, int]
    shop_db_url: str

    def api(self) -> VigilApi:
        """A query-API client over the run's time window (close it after use)."""
        return VigilApi(self.vigil.api, self.started_s)


def _shop_database(base: Path) -> tuple[str, Any, str | None]:
    """(url, embedded server or None, external database name or None) for the shop's database."""
    name = f"vigil_demo_{uuid.uuid4().hex[:8]}"
    try:
        ensure_database(EXTERNAL_PG_ADMIN, name)
        return EXTERNAL_PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", None, name
    except psycopg.Error:
        if os.environ.get("VIGIL_TEST_REQUIRE_EXTERNAL_PG") == "1":
            raise
    from storage.postgres.server import embedded_url

    url, server = embedded_url(base / "shop")
    return url, server, None


def run_demo(base: Path, vigil_env: dict[str, str]) -> tuple[DemoData, Any, str | None]:
    """Run the demo once (see the module doc); returns (data, embedded server, external db name)."""
    vigil = VigilProcess(base / "vigil", env=vigil_env).start()
    url, server, db_name = _shop_database(base)
    shop = Shop(url, vigil.otlp_http, base / "shop-logs", frontend_port=free_port(), seed=DEMO_SEED,
                decline_rate=DEMO_DECLINE_RATE, metric_interval_s=1.0)
    started = time.time()
    shop.start()
    try:
        gen = LoadGenerator(shop.url, rate=DEMO_RATE, seed=DEMO_SEED)
        stats = asyncio.run(gen.run(asyncio.Event(), DEMO_SECONDS))
        ports = dict(shop.ports)
    finally:
        codes = shop.stop()
    assert all(code == 0 for code in codes.values()), f"shop services exited with {codes}"
    data = DemoData(vigil, stats, started, time.time(), ports, url)
    _wait_stored(data)
    _wait_linked(data, time.time_ns())
    time.sleep(2.5)  # host and pool metrics export every second; let a few more land
    return data, server, db_name


def _wait_linked(data: DemoData, stored_ns: int, timeout_s: float = 60.0) -> None:
    """Block until the span linker has run a round after ``stored_ns`` (every span is then linked)."""
    api = data.api()
    try:
        deadline = time.monotonic() + timeout_s
        while api.get("/api/service-map")["linked_until_unix_nano"] < stored_ns + 1_000_000_000:
            if time.monotonic() > deadline:
                raise AssertionError("the span linker did not run a round after the demo's spans were stored")
            time.sleep(0.5)
    finally:
        api.close()


def _wait_stored(data: DemoData, timeout_s: float = 60.0) -> None:
    """Block until Vigil stores one frontend trace per answered request (the shop has flushed)."""
    api = data.api()
    try:
        deadline = time.monotonic() + timeout_s
        want = dict(sorted(data.stats.by_status.items()))
        while (got := stored_responses(api, data.stats)) != want:
            if time.monotonic() > deadline:
                raise AssertionError(f"Vigil stored {got}, the load generator saw {want}")
            time.sleep(0.5)
    finally:
        api.close()
