"""receiver.grpc_server.build_server on a real port, called through grpc.aio and the generated stubs."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from contracts.errors import Overloaded, RejectedPayload, StoreUnavailable
from contracts.ingest import InMemoryIngestObserver
from receiver.grpc_server import build_server
from receiver.handler import IngestHandler
from receiver.signals import BY_NAME, TRACES
from tests.receiver import MemoryWriter, example_request, now_ns, span_request

FOREVER = {"traces": 0, "logs": 0, "metrics": 0}
MAX_REQUEST = 1 << 20
STUBS = {
    "traces": trace_service_pb2_grpc.TraceServiceStub,
    "metrics": metrics_service_pb2_grpc.MetricsServiceStub,
    "logs": logs_service_pb2_grpc.LogsServiceStub,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Env:
    writer: MemoryWriter
    handler: IngestHandler
    channel: grpc.aio.Channel

    def stub(self, signal: str) -> Any:
        return STUBS[signal](self.channel)


@pytest.fixture
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    retention = getattr(request, "param", FOREVER)
    writer = MemoryWriter()
    handler = IngestHandler(writer, retention)
    port = _free_port()
    server = build_server(handler, "127.0.0.1", port, MAX_REQUEST)
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Env(writer, handler, channel)
    finally:
        await channel.close()
        await server.stop(None)


def _details(err: grpc.aio.AioRpcError) -> status_pb2.Status:
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert raw is not None, "no grpc-status-details-bin trailer"
    return status_pb2.Status.FromString(raw)


def _retry_info(status: status_pb2.Status) -> error_details_pb2.RetryInfo:
    infos = []
    for detail in status.details:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            infos.append(info)
    assert len(infos) == 1, status
    return infos[0]


def _seconds(d: duration_pb2.Duration) -> float:
    return d.seconds + d.nanos / 1e9


@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
async def test_export_ok(env: Env, signal: str) -> None:
    req = example_request(signal)
    answer = await env.stub(signal).Export(req, timeout=10)
    assert isinstance(answer, BY_NAME[signal].response)
    assert not answer.HasField("partial_success")
    records = {"traces": 1, "logs": 1, "metrics": 4}[signal]
    # the server hands the writer the very bytes it received
    assert env.writer.writes == [(signal, req.SerializeToString(), records)]


async def test_all_three_services_on_one_server(env: Env) -> None:
    for signal in ("traces", "metrics", "logs"):
        await env.stub(signal).Export(example_request(signal), timeout=10)
    assert [w[0] for w in env.writer.writes] == ["traces", "metrics", "logs"]
    observer = env.handler.observer
    assert isinstance(observer, InMemoryIngestObserver)
    assert [(s, a) for s, _, a, _ in observer.requests] == [("traces", 1), ("metrics", 4), ("logs", 1)]


@pytest.mark.parametrize("env", [{"traces": 30, "logs": 30, "metrics": 30}], indirect=True)
async def test_partial_success_for_too_old_spans(env: Env) -> None:
    fresh = now_ns()
    req = span_request(1544712660000000000, fresh)
    answer = await env.stub("traces").Export(req, timeout=10)
    assert answer.partial_success.rejected_spans == 1
    assert "30-day retention" in answer.partial_success.error_message
    [(_, payload, rows)] = env.writer.writes
    assert rows == 1
    assert [s.start_time_unix_nano for s in TRACES.request.FromString(payload).resource_spans[0]
            .scope_spans[0].spans] == [fresh]


@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
async def test_malformed_bytes_are_invalid_argument(env: Env, signal: str) -> None:
    raw = env.channel.unary_unary(f"/{BY_NAME[signal].grpc_service}/Export")  # identity (de)serializers
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await raw(b"\xff\xff\xff\xff", timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = _details(info.value)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert not status.details  # permanent: no RetryInfo
    assert env.writer.writes == []


async def test_raw_valid_bytes_are_accepted(env: Env) -> None:
    raw = env.channel.unary_unary(f"/{TRACES.grpc_service}/Export")
    body = example_request("traces").SerializeToString()
    answer = await raw(body, timeout=10)
    assert TRACES.response.FromString(answer) == TRACES.response()
    assert env.writer.writes == [("traces", body, 1)]


async def test_unknown_method_is_unimplemented(env: Env) -> None:
    raw = env.channel.unary_unary("/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await raw(b"", timeout=10)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_overloaded_is_resource_exhausted_with_retry_info(env: Env) -> None:
    env.writer.fail = Overloaded(retry_after=3.0)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await env.stub("traces").Export(example_request("traces"), timeout=10)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = _details(info.value)
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert _seconds(_retry_info(status).retry_delay) == 3.0


async def test_retry_info_is_never_shorter_than_asked(env: Env) -> None:
    """HTTP rounds Retry-After up; the gRPC RetryInfo must not tell clients to come back sooner."""
    env.writer.fail = Overloaded(retry_after=2.5)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await env.stub("logs").Export(example_request("logs"), timeout=10)
    assert _seconds(_retry_info(_details(info.value)).retry_delay) >= 2.5


async def test_store_unavailable_is_unavailable_with_retry_info(env: Env) -> None:
    env.writer.fail = StoreUnavailable("clickhouse is down")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await env.stub("metrics").Export(example_request("metrics"), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    # the store's own error text stays in the server log; the client gets a generic retryable answer
    assert "clickhouse is down" not in (info.value.details() or "")
    assert "storage unavailable" in (info.value.details() or "")
    status = _details(info.value)
    assert status.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert _seconds(_retry_info(status).retry_delay) > 0


async def test_rejected_payload_is_invalid_argument_without_retry_info(env: Env) -> None:
    env.writer.fail = RejectedPayload("refused")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await env.stub("traces").Export(example_request("traces"), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert not _details(info.value).details


async def test_message_over_limit_is_resource_exhausted(env: Env) -> None:
    req = span_request(now_ns())
    req.resource_spans[0].scope_spans[0].spans[0].name = "x" * (MAX_REQUEST + 10)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await env.stub("traces").Export(req, timeout=10)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert env.writer.writes == []


async def test_server_keeps_serving_after_errors(env: Env) -> None:
    env.writer.fail = StoreUnavailable("down")
    with pytest.raises(grpc.aio.AioRpcError):
        await env.stub("traces").Export(example_request("traces"), timeout=10)
    env.writer.fail = None
    await env.stub("traces").Export(example_request("traces"), timeout=10)
    assert len(env.writer.writes) == 1


async def test_bind_failure_raises_oserror() -> None:
    """On the test loop: grpc.aio builds its server on the running loop (a sync test would depend on
    whatever loop an earlier test left as the thread's default)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(OSError):
            build_server(IngestHandler(MemoryWriter(), FOREVER), "127.0.0.1", port, MAX_REQUEST)
