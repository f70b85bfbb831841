"""Connection-pool metrics for ``psycopg_pool.ConnectionPool`` with the ``db.client.connection.*`` semconv names.

:class:`InstrumentedPool` wraps a pool. Observed at each collection from ``pool.get_stats()``:

* ``db.client.connection.count`` ``{connection}`` by ``db.client.connection.state`` (``idle``/``used``)
* ``db.client.connection.max`` / ``db.client.connection.idle.min`` ``{connection}``
* ``db.client.connection.pending_requests`` ``{request}``

Recorded per checkout through :meth:`InstrumentedPool.connection`:

* ``db.client.connection.timeouts`` ``{timeout}`` — borrows that raised ``PoolTimeout`` (counted
  here, not from the pool's ``requests_errors``, which also counts other errors and resets on
  ``pop_stats()``)
* ``db.client.connection.wait_time`` ``s`` — from asking for a connection to getting it
* ``db.client.connection.use_time`` ``s`` — from getting it to giving it back

Every point carries ``db.client.connection.pool.name``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation, get_meter_provider

POOL_NAME = "db.client.connection.pool.name"
STATE = "db.client.connection.state"
# bucket bounds for wait/use times in seconds (the SDK's defaults are for milliseconds)
TIME_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class InstrumentedPool:
    """A psycopg pool plus its ``db.client.connection.*`` metrics (see the module doc)."""

    def __init__(self, pool: Any, pool_name: str, meter_provider: MeterProvider | None = None) -> None:
        """Register the instruments for ``pool`` (a ``psycopg_pool.ConnectionPool``) as ``pool_name``."""
        self.pool = pool
        self.attrs = {POOL_NAME: pool_name}
        meter = (meter_provider or get_meter_provider()).get_meter("instrumentation.dbpool")
        meter.create_observable_up_down_counter(
            "db.client.connection.count", [self._count], unit="{connection}",
            description="connections currently in each state")
        meter.create_observable_up_down_counter(
            "db.client.connection.max", [self._stat("pool_max")], unit="{connection}",
            description="the most open connections allowed")
        meter.create_observable_up_down_counter(
            "db.client.connection.idle.min", [self._stat("pool_min")], unit="{connection}",
            description="the fewest idle open connections kept")
        meter.create_observable_up_down_counter(
            "db.client.connection.pending_requests", [self._stat("requests_waiting")], unit="{request}",
            description="requests waiting for a connection")
        self._timeouts = meter.create_counter(
            "db.client.connection.timeouts", unit="{timeout}",
            description="requests that timed out waiting for a connection")
        self._timeouts.add(0, self.attrs)  # a zero point from the start, so rates need no first timeout
        self._wait = meter.create_histogram(
            "db.client.connection.wait_time", unit="s", description="time to obtain a connection from the pool",
            explicit_bucket_boundaries_advisory=TIME_BUCKETS)
        self._use = meter.create_histogram(
            "db.client.connection.use_time", unit="s", description="time between borrowing and returning",
            explicit_bucket_boundaries_advisory=TIME_BUCKETS)

    def _count(self, _options: CallbackOptions) -> Iterable[Observation]:
        stats = self.pool.get_stats()
        size, available = int(stats.get("pool_size", 0)), int(stats.get("pool_available", 0))
        yield Observation(available, {**self.attrs, STATE: "idle"})
        yield Observation(max(0, size - available), {**self.attrs, STATE: "used"})

    def _stat(self, key: str) -> Any:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            yield Observation(int(self.pool.get_stats().get(key, 0)), self.attrs)

        return observe

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Any]:
        """Borrow a connection like ``pool.connection()``, recording wait and use times."""
        from psycopg_pool import PoolTimeout

        asked = time.perf_counter()
        got: float | None = None
        try:
            with self.pool.connection(timeout=timeout) as conn:
                got = time.perf_counter()
                self._wait.record(got - asked, self.attrs)
                try:
                    yield conn
                finally:
                    self._use.record(time.perf_counter() - got, self.attrs)
        except PoolTimeout:
            if got is None:  # the pool's own timeout, not one raised inside the block
                self._timeouts.add(1, self.attrs)
            raise
