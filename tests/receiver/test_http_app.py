"""receiver.http.OtlpHttpApp driven over ASGI with an in-memory writer behind the real IngestHandler."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import status_pb2

from contracts.errors import Overloaded, RejectedPayload, StoreUnavailable
from contracts.ingest import InMemoryIngestObserver
from receiver.handler import IngestHandler
from receiver.http import OtlpHttpApp
from receiver.signals import BY_NAME, TRACES
from tests.receiver import MemoryWriter, example_bytes, example_request, now_ns, span_request

PB = {"content-type": "application/x-protobuf"}
JS = {"content-type": "application/json"}
FOREVER = {"traces": 0, "logs": 0, "metrics": 0}
LIMIT = 64 * 1024

ClientFactory = Callable[..., Any]


@asynccontextmanager
async def _client(
    writer: MemoryWriter, retention: dict[str, int] | None = None, limit: int = LIMIT
) -> AsyncIterator[httpx.AsyncClient]:
    app = OtlpHttpApp(IngestHandler(writer, retention or FOREVER), limit)
    async with httpx.AsyncClient(transport=_transport(app), base_url="http://otlp") as client:
        yield client


def _transport(app: OtlpHttpApp) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # plain dict-typed ASGI callable


def _status(resp: httpx.Response) -> status_pb2.Status:
    assert resp.headers["content-type"] == "application/x-protobuf"
    return status_pb2.Status.FromString(resp.content)


# ------------------------------------------------------------------------------------------- success
@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
async def test_protobuf_request_gets_protobuf_answer(signal: str) -> None:
    writer = MemoryWriter()
    body = example_request(signal).SerializeToString()
    async with _client(writer) as c:
        resp = await c.post(f"/v1/{signal}", content=body, headers=PB)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/x-protobuf"
    answer = BY_NAME[signal].response.FromString(resp.content)
    assert not answer.HasField("partial_success")
    # nothing was pruned: the writer got exactly the request bytes
    records = {"traces": 1, "logs": 1, "metrics": 4}[signal]
    assert writer.writes == [(signal, body, records)]


@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
async def test_json_request_gets_json_answer(signal: str) -> None:
    writer = MemoryWriter()
    async with _client(writer) as c:
        resp = await c.post(f"/v1/{signal}", content=example_bytes(signal),
                            headers={"content-type": "application/json; charset=utf-8"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {}
    [(sig, payload, _)] = writer.writes
    assert sig == signal
    # the JSON request reaches the store as protobuf, equal to what was decoded
    assert BY_NAME[signal].request.FromString(payload) == example_request(signal)


async def test_gzip_protobuf_body() -> None:
    writer = MemoryWriter()
    body = example_request("traces").SerializeToString()
    async with _client(writer) as c:
        resp = await c.post("/v1/traces", content=gzip.compress(body), headers={**PB, "content-encoding": "gzip"})
    assert resp.status_code == 200, resp.content
    assert writer.writes == [("traces", body, 1)]


async def test_gzip_json_body() -> None:
    writer = MemoryWriter()
    async with _client(writer) as c:
        resp = await c.post("/v1/logs", content=gzip.compress(example_bytes("logs")),
                            headers={**JS, "content-encoding": "gzip"})
    assert resp.status_code == 200
    assert resp.json() == {}
    assert len(writer.writes) == 1


async def test_trailing_slash_is_accepted() -> None:
    writer = MemoryWriter()
    async with _client(writer) as c:
        resp = await c.post("/v1/traces/", content=example_request("traces").SerializeToString(), headers=PB)
    assert resp.status_code == 200
    assert len(writer.writes) == 1


async def test_empty_protobuf_request_is_ok_and_writes_nothing() -> None:
    writer = MemoryWriter()
    async with _client(writer) as c:
        resp = await c.post("/v1/traces", content=b"", headers=PB)
    assert resp.status_code == 200
    assert writer.writes == []


# ----------------------------------------------------------------------------------- partial success
async def test_partial_success_for_too_old_records() -> None:
    writer = MemoryWriter()
    fresh = now_ns()
    old = 1544712660000000000  # 2018, far outside a 30-day window
    req = span_request(old, fresh, old)
    async with _client(writer, {"traces": 30, "logs": 30, "metrics": 30}) as c:
        resp = await c.post("/v1/traces", content=req.SerializeToString(), headers=PB)
    assert resp.status_code == 200
    answer = TRACES.response.FromString(resp.content)
    assert answer.partial_success.rejected_spans == 2
    assert "older than the 30-day retention window" in answer.partial_success.error_message
    # the writer received exactly the validated (pruned) request
    [(signal, payload, rows)] = writer.writes
    assert (signal, rows) == ("traces", 1)
    expected = span_request(old, fresh, old)
    spans = expected.resource_spans[0].scope_spans[0].spans
    del spans[2]
    del spans[0]
    assert TRACES.request.FromString(payload) == expected


async def test_partial_success_json_for_official_example() -> None:
    writer = MemoryWriter()
    async with _client(writer, {"traces": 30, "logs": 30, "metrics": 30}) as c:
        resp = await c.post("/v1/metrics", content=example_bytes("metrics"), headers=JS)
    assert resp.status_code == 200
    ps = resp.json()["partialSuccess"]
    assert int(ps["rejectedDataPoints"]) == 4
    assert "30-day retention" in ps["errorMessage"]
    assert writer.writes == []  # nothing left to store


async def test_partial_success_for_malformed_trace_id() -> None:
    writer = MemoryWriter()
    doc = json.loads(example_bytes("traces"))
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append(dict(spans[0], traceId="0102030405", spanId="0102030405060708"))
    async with _client(writer) as c:
        resp = await c.post("/v1/traces", content=json.dumps(doc).encode(), headers=JS)
    assert resp.status_code == 200
    ps = resp.json()["partialSuccess"]
    assert int(ps["rejectedSpans"]) == 1
    assert "malformed trace/span id or an out-of-range timestamp" in ps["errorMessage"]
    [(_, payload, rows)] = writer.writes
    assert rows == 1
    assert TRACES.request.FromString(payload) == example_request("traces")


# -------------------------------------------------------------------------------------------- errors
async def test_unknown_path_is_404() -> None:
    writer = MemoryWriter()
    async with _client(writer) as c:
        for path in ("/v1/profiles", "/v2/traces", "/", "/v1/traces/extra"):
            resp = await c.post(path, content=b"", headers=PB)
            assert resp.status_code == 404, path
            assert _status(resp).code == grpc.StatusCode.NOT_FOUND.value[0]
    assert writer.writes == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_wrong_method_is_405_with_allow(method: str) -> None:
    writer = MemoryWriter()
    async with _client(writer) as c:
        resp = await c.request(method, "/v1/traces")
    assert resp.status_code == 405
    assert resp.headers["allow"] == "POST"
    assert writer.writes == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
async def test_unknown_content_type_is_415(content_type: str) -> None:
    writer = MemoryWriter()
    async with _client(writer) as c:
        resp = await c.post("/v1/traces", content=b"{}", headers={"content-type": content_type})
    assert resp.status_code == 415
    assert _status(resp).message
    assert writer.writes == []


async def test_missing_content_type_is_415() -> None:
    async with _client(MemoryWriter()) as c:
        resp = await c.post("/v1/logs", content=b"")
    assert resp.status_code == 415


async def test_unknown_content_encoding_is_415() -> None:
    async with _client(MemoryWriter()) as c:
        resp = await c.post("/v1/traces", content=b"xx", headers={**PB, "content-encoding": "br"})
    assert resp.status_code == 415


async def test_malformed_protobuf_is_400_with_status_protobuf() -> None:
    writer = MemoryWriter()
    async with _client(writer) as c:
        resp = await c.post("/v1/traces", content=b"\xff\xff\xff\xff", headers=PB)
    assert resp.status_code == 400
    status = _status(resp)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "protobuf" in status.message
    assert writer.writes == []


async def test_malformed_json_is_400_with_status_json() -> None:
    writer = MemoryWriter()
    async with _client(writer) as c:
        resp = await c.post("/v1/traces", content=b'{"resourceSpans": [{"scopeSpans": [{"spans": '
                            b'[{"traceId": "not-hex"}]}]}]}', headers=JS)
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "traceId" in body["message"]
    assert writer.writes == []


async def test_truncated_gzip_is_400() -> None:
    body = gzip.compress(example_request("traces").SerializeToString())
    async with _client(MemoryWriter()) as c:
        resp = await c.post("/v1/traces", content=body[:-6], headers={**PB, "content-encoding": "gzip"})
    assert resp.status_code == 400


async def test_body_over_limit_is_413() -> None:
    writer = MemoryWriter()
    async with _client(writer, limit=1000) as c:
        resp = await c.post("/v1/traces", content=b"\x0a\x00" * 501, headers=PB)
    assert resp.status_code == 413
    assert _status(resp).code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert writer.writes == []


async def test_gzip_bomb_is_413() -> None:
    c_obj = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = b"".join([c_obj.compress(bytes(1 << 20)) for _ in range(16)] + [c_obj.flush()])
    writer = MemoryWriter()
    async with _client(writer, limit=LIMIT) as c:
        resp = await c.post("/v1/traces", content=bomb, headers={**JS, "content-encoding": "gzip"})
    assert resp.status_code == 413
    assert resp.json()["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert writer.writes == []


async def test_overloaded_is_429_with_retry_after() -> None:
    async with _client(MemoryWriter(fail=Overloaded(retry_after=2.5))) as c:
        resp = await c.post("/v1/traces", content=example_request("traces").SerializeToString(), headers=PB)
    assert resp.status_code == 429
    assert resp.headers["retry-after"] == "3"  # rounded up, never earlier than asked
    assert _status(resp).code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]


async def test_store_unavailable_is_503_with_retry_after() -> None:
    async with _client(MemoryWriter(fail=StoreUnavailable("clickhouse is down"))) as c:
        resp = await c.post("/v1/logs", content=example_bytes("logs"), headers=JS)
    assert resp.status_code == 503
    assert int(resp.headers["retry-after"]) > 0
    body = resp.json()
    assert body["code"] == grpc.StatusCode.UNAVAILABLE.value[0]
    assert "clickhouse is down" not in body["message"] and "storage unavailable" in body["message"]


async def test_rejected_payload_is_400_without_retry_after() -> None:
    async with _client(MemoryWriter(fail=RejectedPayload("refused by the store"))) as c:
        resp = await c.post("/v1/metrics", content=example_request("metrics").SerializeToString(), headers=PB)
    assert resp.status_code == 400
    assert "retry-after" not in resp.headers
    assert "refused by the store" not in _status(resp).message
    assert "store refused this request" in _status(resp).message


async def test_unexpected_writer_error_is_503_without_leaking_details() -> None:
    async with _client(MemoryWriter(fail=RuntimeError("secret internals"))) as c:
        resp = await c.post("/v1/traces", content=example_request("traces").SerializeToString(), headers=PB)
    assert resp.status_code == 503
    assert "retry-after" in resp.headers
    assert "secret" not in _status(resp).message


async def test_observer_is_told_accepted_and_rejected() -> None:
    writer = MemoryWriter()
    handler = IngestHandler(writer, {"traces": 30, "logs": 0, "metrics": 0})
    app = OtlpHttpApp(handler, LIMIT)
    req = span_request(1544712660000000000, now_ns(), now_ns())
    async with httpx.AsyncClient(transport=_transport(app), base_url="http://otlp") as c:
        assert (await c.post("/v1/traces", content=req.SerializeToString(), headers=PB)).status_code == 200
        assert (await c.post("/v1/logs", content=example_bytes("logs"), headers=JS)).status_code == 200
    observer = handler.observer
    assert isinstance(observer, InMemoryIngestObserver)
    assert [(s, a, r) for s, _, a, r in observer.requests] == [
        ("traces", 2, {"too_old": 1, "bad_id": 0}), ("logs", 1, {"too_old": 0, "bad_id": 0})]
