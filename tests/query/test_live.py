"""The /ws live feed: a real server, real WebSocket clients, events from the real bus."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from contracts.events import Event, Topic
from query.live import Filters, parse_topics, passes
from tests.receiver import now_ns, span_request
from tests.vigil_process import VigilProcess


@pytest.fixture(scope="module")
def live_vigil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    proc = VigilProcess(tmp_path_factory.mktemp("live"), env={"VIGIL_LIVE_SNAPSHOT_INTERVAL_S": "500ms",
                                                                 "VIGIL_ERROR_SCAN_INTERVAL_S": "500ms",
                                                                 "VIGIL_HOST_METRICS": "off"}).start()
    yield proc
    proc.stop()


def _ws(vigil: VigilProcess, query: str = "") -> str:
    return f"ws://127.0.0.1:{vigil.api_port}/ws{query}"


async def _next(ws: Any, kind: str, timeout: float = 15.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind:
                return dict(message)


async def test_dashboard_data_snapshots_reflect_ingested_requests(live_vigil: VigilProcess) -> None:
    service = f"live-{uuid.uuid4().hex[:6]}"
    body = span_request(now_ns() - 10**9, service=service).SerializeToString()  # one root span: a request
    httpx.post(f"{live_vigil.otlp_http}/v1/traces", content=body,
               headers={"content-type": "application/x-protobuf"}).raise_for_status()
    async with websockets.connect(_ws(live_vigil, "?topics=dashboard-data")) as ws:
        hello = json.loads(await ws.recv())
        assert hello == {"type": "hello", "topics": ["dashboard-data"], "service": None}
        for _ in range(20):
            snapshot = await _next(ws, "dashboard-data")
            mine = [s for s in snapshot["data"]["services"] if s["service"] == service]
            if mine:
                break
        assert mine == [{"service": service, "requests": 1, "errors": 0, "p95_ms": mine[0]["p95_ms"]}]
        assert snapshot["dropped"] == 0


async def test_a_new_error_issue_arrives_as_a_performance_event(live_vigil: VigilProcess) -> None:
    """The real error tracker scans the new exception and the feed announces the new issue."""
    service = f"live-err-{uuid.uuid4().hex[:6]}"
    kind = f"LiveTestError{uuid.uuid4().hex[:6]}"
    req = span_request(now_ns() - 10**9, service=service)
    span = req.resource_spans[0].scope_spans[0].spans[0]
    event = span.events.add()
    event.name, event.time_unix_nano = "exception", span.start_time_unix_nano + 1000
    for key, value in (("exception.type", kind), ("exception.message", "order 42 failed"),
                       ("exception.stacktrace", 'File "/app/shop.py", line 3, in pay')):
        kv = event.attributes.add()
        kv.key, kv.value.string_value = key, value
    async with websockets.connect(_ws(live_vigil, f"?topics=performance&service={service}")) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        httpx.post(f"{live_vigil.otlp_http}/v1/traces", content=req.SerializeToString(),
                   headers={"content-type": "application/x-protobuf"}).raise_for_status()
        message = await _next(ws, "performance", timeout=30)
    data = message["data"]
    assert (data["kind"], data["type"], data["service"]) == ("new_issue", kind, service)
    assert data["message"] == "order <n> failed"


async def test_subscribe_message_changes_filters_and_bad_messages_get_errors(live_vigil: VigilProcess) -> None:
    async with websockets.connect(_ws(live_vigil)) as ws:
        assert json.loads(await ws.recv())["topics"] == ["dashboard-data", "alert", "performance"]
        await ws.send(json.dumps({"type": "subscribe", "topics": ["performance"], "service": "checkout"}))
        assert await _next(ws, "hello") == {"type": "hello", "topics": ["performance"], "service": "checkout"}
        await ws.send("not json")
        assert "JSON" in (await _next(ws, "error"))["error"]
        await ws.send(json.dumps({"type": "subscribe", "topics": ["nope"]}))
        assert "unknown topic 'nope'" in (await _next(ws, "error"))["error"]
        await ws.send(json.dumps({"type": "unsubscribe"}))
        assert "expected" in (await _next(ws, "error"))["error"]


async def test_unknown_topic_in_the_url_closes_with_policy_violation(live_vigil: VigilProcess) -> None:
    async with websockets.connect(_ws(live_vigil, "?topics=alerts")) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert "unknown topic 'alerts'" in closed.value.rcvd.reason


def test_filters() -> None:
    assert parse_topics(None) == tuple(Topic)
    assert parse_topics("alert, performance") == (Topic.ALERT, Topic.PERFORMANCE)
    with pytest.raises(ValueError, match="unknown topic 'x'"):
        parse_topics(["alert", "x"])
    only_checkout = Filters((Topic.PERFORMANCE,), "checkout")
    assert passes(Event(Topic.PERFORMANCE, {"service": "checkout"}), only_checkout)
    assert passes(Event(Topic.PERFORMANCE, {"services": ["payments", "checkout"]}), only_checkout)
    assert passes(Event(Topic.PERFORMANCE, {"kind": "no service named"}), only_checkout)
    assert not passes(Event(Topic.PERFORMANCE, {"service": "payments"}), only_checkout)
    assert not passes(Event(Topic.ALERT, {"service": "checkout"}), only_checkout)


def test_a_slow_client_loses_the_oldest_events_not_the_server() -> None:
    """In-process: a client that does not read falls behind by more than the queue and sees `dropped`."""
    import time

    from litestar.testing import TestClient

    from contracts.events import InProcessEventBus
    from contracts.reader import InMemoryReader
    from query.api import build_app
    from query.live import QUEUE

    bus = InProcessEventBus()
    app = build_app(InMemoryReader([]), lambda: {"status": "ok", "components": {}}, bus=bus)
    with TestClient(app) as client, client.websocket_connect("/ws?topics=performance") as ws:
        assert ws.receive_json()["type"] == "hello"
        deadline = time.monotonic() + 5
        while not bus.subscriber_count() and time.monotonic() < deadline:
            time.sleep(0.02)
        for i in range(QUEUE * 20):  # published faster than the client reads
            bus.publish(Topic.PERFORMANCE, {"n": i})
        got = []
        while not got or got[-1]["data"]["n"] != QUEUE * 20 - 1:
            got.append(ws.receive_json())
    assert len(got) < QUEUE * 20
    assert got[-1]["dropped"] == QUEUE * 20 - len(got)  # the newest arrives; what was lost is counted
