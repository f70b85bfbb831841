"""The in-memory implementations shipped beside the contracts behave as their protocols say."""

from __future__ import annotations

import asyncio
import threading

import pytest

from contracts.errors import Overloaded
from contracts.events import Event, InProcessEventBus, Topic
from contracts.freshness import Backlog, InMemoryProgress
from contracts.ingest import InMemoryWriter
from contracts.notify import AlertInstance, InMemoryNotifier, Notification, NotifyError
from contracts.signals import ALL_SIGNALS, Signal


def test_signal_names_are_the_otlp_path_suffixes() -> None:
    assert [str(s) for s in ALL_SIGNALS] == ["traces", "logs", "metrics"]
    assert {"traces": 1}[Signal.TRACES] == 1  # usable wherever the plain name is


async def test_writer_records_or_raises() -> None:
    w = InMemoryWriter()
    await w.write(Signal.LOGS, b"x", 3)
    assert w.writes == [("logs", b"x", 3)]
    w.fail = Overloaded(2.0)
    with pytest.raises(Overloaded):
        await w.write(Signal.LOGS, b"y", 1)


async def test_event_bus_delivers_by_topic_from_any_thread() -> None:
    bus = InProcessEventBus()
    alerts = bus.subscribe(Topic.ALERT)
    everything = bus.subscribe()
    thread = threading.Thread(target=lambda: [bus.publish(Topic.ALERT, {"n": 1}),
                                              bus.publish(Topic.PERFORMANCE, {"n": 2})])
    thread.start()
    thread.join()
    got_alerts = [e async for e in _take(alerts, 1)]
    got_all = [e async for e in _take(everything, 2)]
    assert got_alerts == [Event(Topic.ALERT, {"n": 1})]
    assert [e.topic for e in got_all] == [Topic.ALERT, Topic.PERFORMANCE]
    alerts.close()
    everything.close()
    assert bus.subscriber_count() == 0


async def test_a_slow_subscriber_loses_the_oldest_events_not_the_publisher_time() -> None:
    bus = InProcessEventBus()
    sub = bus.subscribe(Topic.DASHBOARD_DATA, max_queue=3)
    for i in range(10):
        bus.publish(Topic.DASHBOARD_DATA, {"i": i})
    await asyncio.sleep(0.01)
    got = [e.data["i"] async for e in _take(sub, 3)]
    assert got[-1] == 9 and sub.dropped >= 6
    sub.close()


async def _take(sub: object, n: int):  # type: ignore[no-untyped-def]
    it = sub.__aiter__()  # type: ignore[attr-defined]
    for _ in range(n):
        yield await asyncio.wait_for(it.__anext__(), 2)


async def test_closed_subscription_ends_its_iterator() -> None:
    bus = InProcessEventBus()
    sub = bus.subscribe(Topic.ALERT)
    sub.close()
    assert [e async for e in sub] == []


async def test_notifier_records_and_fails() -> None:
    n = InMemoryNotifier()
    note = Notification("team", "firing", {"alertname": "X"}, (AlertInstance("firing", {"alertname": "X"}),))
    await n.send(note)
    assert n.sent == [note]
    n.fail = NotifyError("4xx", retryable=False)
    with pytest.raises(NotifyError) as info:
        await n.send(note)
    assert info.value.retryable is False


async def test_progress_reports_its_backlog() -> None:
    p = InMemoryProgress()
    assert await p.wait_visible(0.1)
    p.pending["traces"] = Backlog(5, 1.5)
    assert not await p.wait_visible(0.1)
    assert Backlog.total(list(p.backlog().values())) == Backlog(5, 1.5)
