"""The error_tracker component on a real InProcessEventBus, real chDB and a real PostgreSQL metadata store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client

from contracts.events import Event, InProcessEventBus, Topic
from contracts.reader import InMemoryReader
from query.apm.errors_scan import WATERMARK_KEY
from storage.clickhouse.client import connect
from storage.clickhouse.reader import ClickHouseReader
from storage.postgres.store import PostgresMetadataStore
from tests.pg import throwaway_database
from tests.query.apm.errors_rows import ago, insert, log, ns, request
from vigil.errortracker import ErrorTracker
from vigil.modules import ROLES, start_order, switched_off


@pytest.fixture
def store() -> Iterator[PostgresMetadataStore]:
    with throwaway_database("vigil_errortracker_test") as url:
        pg = PostgresMetadataStore(url)
        pg.migrate("test")
        yield pg


def test_scans_publish_new_and_regressed_issues_and_advance_the_watermark(
        ch: Client, chdb_dsn: str, store: PostgresMetadataStore) -> None:
    svc = f"tracker-{uuid.uuid4().hex[:6]}"
    pay = f"PayError{svc[-6:]}"  # a type of its own: fingerprints do not include the service
    insert(ch, [request(svc, "/pay", ago(12), 500, [(pay, "declined txn_1 for order 1")])[0],
                request(svc, "/pay", ago(11), 500, [(pay, "declined txn_2 for order 9")])[0]],
           [log(svc, ago(10), "cache unreachable")])
    bus = InProcessEventBus()
    now = [ns(ago(9))]
    tracker = ErrorTracker(bus, ClickHouseReader(lambda: connect(chdb_dsn)), store, 0.1, clock=lambda: now[0])

    async def run() -> list[Event]:
        sub = bus.subscribe(Topic.PERFORMANCE)
        await tracker.start()
        got: list[Event] = []
        async for event in sub:
            if event.data["service"] == svc:
                got.append(event)
            if len(got) == 2:
                break
        await tracker.stop(1.0)
        sub.close()
        return got

    events = asyncio.run(asyncio.wait_for(run(), 30))
    assert sorted((e.data["kind"], e.data["type"], e.data["count"]) for e in events) == [
        ("new_issue", pay, 1), ("new_issue", "log", 1)]
    assert {e.topic for e in events} == {Topic.PERFORMANCE}
    assert store.settings.get(WATERMARK_KEY)["watermark_ns"] == now[0]
    mine = {i.type: i for i in store.issues.all() if svc in i.services}
    assert (mine[pay].count, mine["log"].count) == (2, 1)  # re-scans of the overlap counted once
    assert tracker.health()["status"] == "ok" and tracker.health()["failures"] == 0

    # resolve, a new occurrence later: one regressed_issue event, the watermark moves on
    store.issues.set_status(mine[pay].fingerprint, "resolved", ns(ago(8)))
    insert(ch, [request(svc, "/pay", ago(7), 500, [(pay, "declined txn_3 for order 4")])[0]])
    now[0] = ns(ago(6))
    before = len(bus.published)
    tracker.scan_once()
    announced = [e.data for e in bus.published[before:] if e.data["service"] == svc]
    assert [(d["kind"], d["fingerprint"], d["regressions"]) for d in announced] == [
        ("regressed_issue", mine[pay].fingerprint, 1)]
    assert store.settings.get(WATERMARK_KEY)["watermark_ns"] == now[0]
    assert store.issues.get(mine[pay].fingerprint).count == 3  # type: ignore[union-attr]


def test_a_failing_scan_is_reported_and_retried_not_fatal(store: PostgresMetadataStore) -> None:
    reader = InMemoryReader(fail=RuntimeError("columnar down"))
    tracker = ErrorTracker(InProcessEventBus(), reader, store, 0.05)

    async def run() -> None:
        await tracker.start()
        while tracker.failures < 2:
            await asyncio.sleep(0.02)
        assert tracker._task is not None and not tracker._task.done()
        reader.fail = None
        while tracker.scans < 1:
            await asyncio.sleep(0.02)
        await tracker.stop(1.0)

    asyncio.run(asyncio.wait_for(run(), 30))
    assert tracker.failures >= 2 and tracker.scans >= 1
    assert tracker.health()["status"] == "ok" and tracker.health()["last_error"] == ""
    assert store.settings.get(WATERMARK_KEY) is not None


def test_failure_shows_in_health(store: PostgresMetadataStore) -> None:
    tracker = ErrorTracker(InProcessEventBus(), InMemoryReader(fail=RuntimeError("columnar down")), store, 60)

    async def run() -> None:
        await tracker.start()
        while tracker.failures < 1:
            await asyncio.sleep(0.01)
        await tracker.stop(1.0)

    asyncio.run(asyncio.wait_for(run(), 30))
    health = tracker.health()
    assert (health["status"], health["last_error"], health["scans"]) == ("error", "RuntimeError: columnar down", 0)
    assert store.settings.get(WATERMARK_KEY) is None


def test_module_runs_in_roles_all_and_query_and_can_be_switched_off() -> None:
    from vigil.config import DEFAULTS, load

    assert "error_tracker" in ROLES["all"] and "error_tracker" in ROLES["query"]
    assert "error_tracker" not in ROLES["receiver"]
    order = start_order("all")
    assert order.index("metadata") < order.index("error_tracker") < order.index("api")
    assert "error_tracker" not in switched_off(DEFAULTS)
    off = load(env={"VIGIL_ERROR_TRACKER": "false", "VIGIL_ERROR_SCAN_INTERVAL_S": "30s"})
    assert "error_tracker" in switched_off(off) and off.error_scan_interval_s == 30.0
    assert "error_tracker" not in start_order("query", switched_off(off))
