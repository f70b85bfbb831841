"""Browser RUM beacons: /v1/rum over ASGI with the real IngestHandler, /rum.js, validation, CORS, rate limit."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from contracts.webvitals import ATTR, EVENT_ERROR, EVENT_VITAL, rating
from receiver.cors import CorsPolicy
from receiver.handler import IngestHandler
from receiver.http import OtlpHttpApp
from receiver.ratelimit import RateLimiter
from receiver.rum import BeaconError, beacon_to_logs
from receiver.rum_endpoint import RumEndpoint
from tests.receiver import MemoryWriter

FOREVER = {"traces": 0, "logs": 0, "metrics": 0}
TRACE, SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
TEXT = {"content-type": "text/plain;charset=UTF-8"}


def beacon(**over: Any) -> dict[str, Any]:
    now = int(time.time() * 1000)
    doc: dict[str, Any] = {
        "service": "shop-web", "env": "prod", "session": "abc123",
        "page": {"url": "https://shop.example/product/42?ref=x", "route": "/product/:id"},
        "device": "mobile", "connection": "4g", "navigationType": "navigate",
        "traceparent": f"00-{TRACE}-{SPAN}-01",
        "events": [{"type": "vital", "name": "LCP", "value": 3100.5, "delta": 3100.5, "id": "v5-1", "t": now,
                    "attribution": {"target": "img.hero", "timeToFirstByte": 120.25}},
                   {"type": "vital", "name": "CLS", "value": 0.05, "t": now},
                   {"type": "error", "kind": "unhandledrejection", "errorType": "TypeError",
                    "message": "<img src=x onerror=alert(1)>", "stack": "at f (app.js:1:2)", "t": now}]}
    doc.update(over)
    return doc


@asynccontextmanager
async def client(writer: MemoryWriter, origins: list[str] | None = None,
                 limiter: RateLimiter | None = None) -> AsyncIterator[httpx.AsyncClient]:
    handler = IngestHandler(writer, FOREVER)
    cors = CorsPolicy(origins or [])
    app = OtlpHttpApp(handler, 1 << 20, cors=cors, rum=RumEndpoint(handler, cors, False, limiter))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://otlp") as c:
        yield c


def stored(writer: MemoryWriter) -> list[Any]:
    (signal, payload, rows), = writer.writes
    assert signal == "logs"
    req = ExportLogsServiceRequest.FromString(payload)
    recs = list(req.resource_logs[0].scope_logs[0].log_records)
    assert rows == len(recs)
    return recs


def attrs(rec: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in rec.attributes:
        out[kv.key] = getattr(kv.value, kv.value.WhichOneof("value"))
    return out


async def test_a_sendbeacon_body_is_stored_as_log_events_linked_to_the_trace() -> None:
    writer = MemoryWriter()
    async with client(writer) as c:
        resp = await c.post("/v1/rum", content=json.dumps(beacon()), headers={**TEXT, "user-agent": "UA/1"})
    assert resp.status_code == 200 and resp.json() == {"accepted": 3}
    lcp, cls, err = stored(writer)
    assert lcp.event_name == EVENT_VITAL and lcp.trace_id.hex() == TRACE and lcp.span_id.hex() == SPAN
    a = attrs(lcp)
    assert a[ATTR.VITAL] == "LCP" and a[ATTR.VALUE] == 3100.5 and a[ATTR.RATING] == "needs-improvement"
    assert a[ATTR.ROUTE] == "/product/:id" and a[ATTR.PATH] == "/product/42" and a[ATTR.DEVICE] == "mobile"
    assert a[ATTR.CONNECTION] == "4g" and a[ATTR.USER_AGENT] == "UA/1" and a[ATTR.SESSION] == "abc123"
    assert a["web_vital.attribution.target"] == "img.hero" and a["web_vital.attribution.timeToFirstByte"] == "120.25"
    assert attrs(cls)[ATTR.RATING] == "good"
    assert err.event_name == EVENT_ERROR and err.severity_text == "ERROR"
    e = attrs(err)
    assert e["exception.type"] == "TypeError" and e["exception.message"] == "<img src=x onerror=alert(1)>"
    assert e[ATTR.ERROR_KIND] == "unhandledrejection"


@pytest.mark.parametrize(("vital", "value", "expected"), [
    ("LCP", 2500, "good"), ("LCP", 2500.01, "needs-improvement"), ("LCP", 4000, "needs-improvement"),
    ("LCP", 4000.5, "poor"), ("INP", 200, "good"), ("INP", 501, "poor"), ("CLS", 0.1, "good"),
    ("CLS", 0.25, "needs-improvement"), ("CLS", 0.26, "poor"), ("FCP", 1800, "good"), ("FCP", 3001, "poor"),
    ("TTFB", 800, "good"), ("TTFB", 1000, "needs-improvement"), ("TTFB", 1801, "poor")])
def test_ratings_follow_the_official_thresholds(vital: str, value: float, expected: str) -> None:
    assert rating(vital, value) == expected  # web.dev: good <= first threshold, poor > second


@pytest.mark.parametrize(("change", "field"), [
    ({"service": ""}, "service"), ({"service": 5}, "service"), ({"page": "x"}, "page"),
    ({"page": {"url": "javascript:alert(1)"}}, "page.url"), ({"device": "fridge"}, "device"),
    ({"traceparent": "00-" + "0" * 32 + "-" + SPAN + "-01"}, "traceparent"), ({"events": []}, "events"),
    ({"events": [{"type": "vital", "name": "FID", "value": 3}]}, "events[0].name"),
    ({"events": [{"type": "vital", "name": "LCP", "value": -1}]}, "events[0].value"),
    ({"events": [{"type": "vital", "name": "LCP", "value": "fast"}]}, "events[0].value"),
    ({"events": [{"type": "vital", "name": "LCP", "value": 1, "t": 1}]}, "events[0].t"),
    ({"events": [{"type": "error"}]}, "events[0].message"), ({"events": [{"type": "click"}]}, "events[0].type"),
    ({"events": [{"type": "vital", "name": "LCP", "value": 1, "attribution": {"<x>": 1}}]},
     "events[0].attribution"),
    ({"events": [{"type": "vital", "name": "CLS", "value": 0.1}] * 51}, "events"),
])
async def test_bad_beacons_are_refused_naming_the_field_and_nothing_is_stored(change: dict[str, Any],
                                                                             field: str) -> None:
    writer = MemoryWriter()
    async with client(writer) as c:
        resp = await c.post("/v1/rum", content=json.dumps(beacon(**change)), headers=TEXT)
    assert resp.status_code == 400 and resp.json()["field"] == field, resp.text
    assert writer.writes == []


async def test_non_json_oversized_and_wrong_media_type() -> None:
    writer = MemoryWriter()
    async with client(writer) as c:
        assert (await c.post("/v1/rum", content=b"\xff{", headers=TEXT)).json()["field"] == "body"
        big = json.dumps(beacon(session="x" * 70_000))
        assert (await c.post("/v1/rum", content=big, headers=TEXT)).status_code == 413
        resp = await c.post("/v1/rum", content=json.dumps(beacon()), headers={"content-type": "application/xml"})
        assert resp.status_code == 415
        assert (await c.get("/v1/rum")).status_code == 405
    assert writer.writes == []


async def test_cors_origins_and_the_per_client_rate_limit() -> None:
    writer = MemoryWriter()
    clock = [0.0]
    limiter = RateLimiter(1.0, 1, clock=lambda: clock[0])
    async with client(writer, ["https://shop.example"], limiter) as c:
        ok = await c.post("/v1/rum", content=json.dumps(beacon()), headers={**TEXT, "origin": "https://shop.example"})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://shop.example"
        evil = await c.post("/v1/rum", content=json.dumps(beacon()), headers={**TEXT, "origin": "https://evil.example"})
        assert evil.status_code == 403
        pre = await c.options("/v1/rum", headers={"origin": "https://shop.example",
                                                  "access-control-request-method": "POST"})
        assert pre.status_code == 204
        limited = await c.post("/v1/rum", content=json.dumps(beacon()), headers=TEXT)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
        clock[0] = 1.0
        assert (await c.post("/v1/rum", content=json.dumps(beacon()), headers=TEXT)).status_code == 200
    assert len(writer.writes) == 2


async def test_rum_js_is_web_vitals_then_the_collector() -> None:
    async with client(MemoryWriter()) as c:
        resp = await c.get("/rum.js")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/javascript")
    assert resp.text.startswith("var webVitals=") and "navigator.sendBeacon" in resp.text
    assert "/v1/rum" in resp.text and "serverTiming" in resp.text


def test_the_rate_limiter_refills_and_bounds_its_keys() -> None:
    clock = [0.0]
    rl = RateLimiter(2.0, 1, max_keys=2, clock=lambda: clock[0])
    assert rl.allow("a") is None and rl.allow("a") == pytest.approx(0.5)
    clock[0] = 0.5
    assert rl.allow("a") is None
    rl.allow("b")
    rl.allow("c")  # evicts a
    assert rl.allow("a") is None  # a fresh bucket


def test_beacon_errors_carry_the_field() -> None:
    with pytest.raises(BeaconError) as err:
        beacon_to_logs(beacon(events=[{"type": "vital", "name": "INP"}]), int(time.time() * 1000))
    assert err.value.field == "events[0].value" and "required" in err.value.message
