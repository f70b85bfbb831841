"""instrumentation.dbpool against a real PostgreSQL: ``db.client.connection.*`` metrics of a real psycopg pool.

Each test wraps a fresh ``psycopg_pool.ConnectionPool`` on ``postgresql://postgres@127.0.0.1:5432/test`` in
``InstrumentedPool`` with its own SDK ``MeterProvider`` and ``InMemoryMetricReader``, and reads what a
collection reports. Instrument kinds and units are the semantic conventions' (database metrics,
connection pools): UpDownCounter → non-monotonic Sum, Counter → monotonic Sum, Histogram.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Histogram, InMemoryMetricReader, Sum
from psycopg_pool import ConnectionPool, PoolTimeout

from instrumentation.dbpool import POOL_NAME, STATE, TIME_BUCKETS, InstrumentedPool

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
NAME = "test-db"
# name → (instrument data type, monotonic (Sums only), unit), per the semconv for db.client.connection.*
SEMCONV = {
    "db.client.connection.count": (Sum, False, "{connection}"),
    "db.client.connection.max": (Sum, False, "{connection}"),
    "db.client.connection.idle.min": (Sum, False, "{connection}"),
    "db.client.connection.pending_requests": (Sum, False, "{request}"),
    "db.client.connection.timeouts": (Sum, True, "{timeout}"),
    "db.client.connection.wait_time": (Histogram, None, "s"),
    "db.client.connection.use_time": (Histogram, None, "s"),
}


@pytest.fixture(scope="module", autouse=True)
def _postgres_reachable() -> None:
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        if os.environ.get("VIGIL_TEST_REQUIRE_EXTERNAL_PG") == "1":
            pytest.fail(f"external PostgreSQL required but unreachable at {PG_URL}: {exc}")
        pytest.skip(f"no PostgreSQL at {PG_URL}")


class Instrumented:
    """A real pool, its InstrumentedPool and the reader of its metrics."""

    def __init__(self, max_size: int) -> None:
        self.pool: ConnectionPool[Any] = ConnectionPool(PG_URL, min_size=1, max_size=max_size, open=True,
                                                        name=NAME)
        self.pool.wait(timeout=15)  # the min_size connection is open and idle
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])
        self.ip = InstrumentedPool(self.pool, NAME, meter_provider=self.provider)

    def metrics(self) -> dict[str, Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}

    def value(self, name: str, **attrs: str) -> Any:
        """The one point of ``name`` whose attributes include ``attrs`` (its value, or the point for histograms)."""
        points = [p for p in self.metrics()[name].data.data_points
                  if all(p.attributes.get(k) == v for k, v in attrs.items())]
        assert len(points) == 1, f"{name} {attrs}: {points}"
        return points[0] if isinstance(self.metrics()[name].data, Histogram) else points[0].value

    def counts(self) -> dict[str, int]:
        return {p.attributes[STATE]: p.value for p in self.metrics()["db.client.connection.count"].data.data_points}

    def close(self) -> None:
        self.provider.shutdown()
        self.pool.close()


@pytest.fixture
def pool2() -> Iterator[Instrumented]:
    inst = Instrumented(max_size=2)
    yield inst
    inst.close()


@pytest.fixture
def pool1() -> Iterator[Instrumented]:
    inst = Instrumented(max_size=1)
    yield inst
    inst.close()


def _wait_until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


def test_instrument_kinds_and_units_follow_semconv(pool2: Instrumented) -> None:
    with pool2.ip.connection():
        pass
    metrics = pool2.metrics()
    assert set(metrics) == set(SEMCONV)
    for name, (kind, monotonic, unit) in SEMCONV.items():
        metric = metrics[name]
        assert isinstance(metric.data, kind), f"{name}: {type(metric.data).__name__}"
        assert metric.unit == unit, name
        if monotonic is not None:
            sum_data: Any = metric.data
            assert sum_data.is_monotonic is monotonic, name


def test_every_point_carries_the_pool_name(pool2: Instrumented) -> None:
    with pool2.ip.connection():
        pass
    metrics = pool2.metrics()
    points = [(name, p) for name, m in metrics.items() for p in m.data.data_points]
    assert len(points) == len(SEMCONV) + 1  # one each, count two (idle and used)
    for name, point in points:
        assert point.attributes.get(POOL_NAME) == NAME, name


def test_connection_count_by_state_while_held_and_after(pool2: Instrumented) -> None:
    assert pool2.counts() == {"idle": 1, "used": 0}
    with pool2.ip.connection() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert pool2.counts() == {"idle": 0, "used": 1}
        with pool2.ip.connection() as second:  # the pool grows to its max for a second borrower
            assert second.execute("SELECT 2").fetchone() == (2,)
            assert pool2.counts() == {"idle": 0, "used": 2}
        assert pool2.counts() == {"idle": 1, "used": 1}
    assert pool2.counts() == {"idle": 2, "used": 0}
    assert pool2.value("db.client.connection.count", **{STATE: "idle"}) == 2


def test_max_and_idle_min_are_the_pool_limits(pool2: Instrumented) -> None:
    assert pool2.value("db.client.connection.max") == 2
    assert pool2.value("db.client.connection.idle.min") == 1


def test_pending_requests_while_a_second_thread_waits(pool1: Instrumented) -> None:
    assert pool1.value("db.client.connection.pending_requests") == 0
    got = threading.Event()
    errors: list[BaseException] = []

    def borrower() -> None:
        try:
            with pool1.ip.connection(timeout=10):
                got.set()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    with pool1.ip.connection():
        thread = threading.Thread(target=borrower, daemon=True)
        thread.start()
        assert _wait_until(lambda: pool1.value("db.client.connection.pending_requests") == 1)
        time.sleep(0.3)  # the waiter's wait time spans this
        assert not got.is_set()
        assert pool1.value("db.client.connection.pending_requests") == 1
    thread.join(10)
    assert not thread.is_alive() and errors == [] and got.is_set()
    assert pool1.value("db.client.connection.pending_requests") == 0
    waits = pool1.value("db.client.connection.wait_time")
    assert waits.count == 2
    assert waits.max >= 0.3  # the second borrower waited for the first to give the connection back


def test_timeouts_count_requests_that_gave_up(pool1: Instrumented) -> None:
    assert pool1.value("db.client.connection.timeouts") == 0
    with pool1.ip.connection():
        for expected in (1, 2):
            began = time.monotonic()
            with pytest.raises(PoolTimeout), pool1.ip.connection(timeout=0.2):
                pytest.fail("got a connection the pool does not have")
            assert time.monotonic() - began >= 0.2
            assert pool1.value("db.client.connection.timeouts") == expected
    with pool1.ip.connection():  # a successful borrow after them does not count
        pass
    assert pool1.value("db.client.connection.timeouts") == 2
    # the requests that timed out got no connection: no wait/use time recorded for them
    assert pool1.value("db.client.connection.wait_time").count == 2
    assert pool1.value("db.client.connection.use_time").count == 2


def test_wait_and_use_time_histograms(pool2: Instrumented) -> None:
    hold_s = (0.05, 0.1, 0.15)
    for hold in hold_s:
        with pool2.ip.connection() as conn:
            conn.execute("SELECT 1")
            time.sleep(hold)
    use = pool2.value("db.client.connection.use_time")
    wait = pool2.value("db.client.connection.wait_time")
    assert use.count == wait.count == len(hold_s)
    assert use.sum >= sum(hold_s)
    assert use.min >= min(hold_s)
    assert use.max < max(hold_s) + 1.0
    assert 0 <= wait.sum < 1.0  # an idle connection was there every time
    assert tuple(use.explicit_bounds) == tuple(wait.explicit_bounds) == TIME_BUCKETS
    assert sum(use.bucket_counts) == len(hold_s)


def test_use_time_is_recorded_when_the_block_raises(pool2: Instrumented) -> None:
    with pytest.raises(ZeroDivisionError), pool2.ip.connection():
        time.sleep(0.05)
        _ = 1 / 0
    use = pool2.value("db.client.connection.use_time")
    assert use.count == 1 and use.sum >= 0.05
    assert pool2.counts() == {"idle": 1, "used": 0}  # and the connection went back
