"""storage.clickhouse.writer.GroupCommitWriter against the session's embedded chDB.

Each test writes under its own service names and counts rows by service, so tests never see each
other's data. No wall-clock assertions: timing knobs only decide *whether* requests share a batch.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from clickhouse_connect.driver.client import Client

from receiver.decode import parse_json
from receiver.signals import BY_NAME
from storage.clickhouse.client import connect, protobuf_settings
from storage.clickhouse.writer import GroupCommitWriter
from storage.errors import Overloaded, RejectedPayload, StoreUnavailable
from tests.receiver import example_bytes, now_ns, span_request

T = TypeVar("T")
GARBAGE = b"\xff" * 64  # not a length-delimited OTLP message: ClickHouse's Protobuf reader refuses it
TIMEOUT = 30.0

WriterFactory = Callable[..., GroupCommitWriter]


@pytest.fixture
def make_writer(chdb_dsn: str) -> Iterator[WriterFactory]:
    writers: list[GroupCommitWriter] = []

    def make(start: bool = True, **kwargs: Any) -> GroupCommitWriter:
        w = GroupCommitWriter(lambda: connect(chdb_dsn), lambda m: protobuf_settings(chdb_dsn, m), **kwargs)
        if start:
            w.start()
        writers.append(w)
        return w

    yield make
    for w in writers:
        w.close(timeout=TIMEOUT)


def _service() -> str:
    return f"writer-test-{uuid.uuid4().hex[:12]}"


def _traces(service: str, spans: int) -> bytes:
    t = now_ns()
    return span_request(*[t + i for i in range(spans)], service=service,  # type: ignore[no-any-return]
                        trace_id=uuid.uuid4().bytes).SerializeToString()


def _count(ch: Client, table: str, service: str) -> int:
    return int(ch.query(f"SELECT count() FROM {table} WHERE ServiceName = {{s:String}}",
                        parameters={"s": service}).result_rows[0][0])


async def _within(aw: Awaitable[T]) -> T:
    return await asyncio.wait_for(aw, TIMEOUT)


async def test_concurrent_writes_land_exactly(make_writer: WriterFactory, ch: Client) -> None:
    w = make_writer(batch_max_delay_ms=20, threads=2)
    service = _service()
    sizes = list(range(1, 13))
    await _within(asyncio.gather(*(w.write("traces", _traces(service, n), n) for n in sizes)))
    assert _count(ch, "otel_traces", service) == sum(sizes)
    assert w.stats.rows == sum(sizes)
    assert w.stats.failures == 0
    assert (w.stats.inflight_bytes_now, w.stats.queued_requests_now) == (0, 0)


async def test_concurrent_requests_share_batches(make_writer: WriterFactory, ch: Client) -> None:
    w = make_writer(batch_max_delay_ms=500, threads=1)
    service = _service()
    n = 25
    await _within(asyncio.gather(*(w.write("traces", _traces(service, 2), 2) for _ in range(n))))
    assert _count(ch, "otel_traces", service) == 2 * n
    assert 1 <= w.stats.batches < n


async def test_full_batch_flushes_without_waiting_for_the_delay(make_writer: WriterFactory, ch: Client) -> None:
    # the delay is far beyond the test timeout: only batch_max_rows can trigger these flushes
    w = make_writer(batch_max_rows=3, batch_max_delay_ms=600_000, threads=1)
    service = _service()
    await _within(asyncio.gather(*(w.write("traces", _traces(service, 1), 1) for _ in range(9))))
    assert _count(ch, "otel_traces", service) == 9
    assert w.stats.batches >= 3


async def test_byte_limit_splits_batches(make_writer: WriterFactory, ch: Client) -> None:
    service = _service()
    payloads = [_traces(service, 1) for _ in range(6)]
    w = make_writer(batch_max_bytes=2 * len(payloads[0]), batch_max_delay_ms=600_000, threads=1)
    await _within(asyncio.gather(*(w.write("traces", p, 1) for p in payloads)))
    assert _count(ch, "otel_traces", service) == 6
    assert w.stats.batches >= 3


async def test_payload_over_inflight_budget_is_overloaded_and_not_queued(make_writer: WriterFactory) -> None:
    w = make_writer(max_inflight_bytes=100)
    with pytest.raises(Overloaded) as info:
        await w.write("traces", b"x" * 101, 1)
    assert info.value.retry_after >= 1.0
    assert (w.stats.inflight_bytes_now, w.stats.queued_requests_now) == (0, 0)


async def test_admission_counts_uncommitted_bytes(make_writer: WriterFactory, ch: Client) -> None:
    service = _service()
    first = _traces(service, 1)
    w = make_writer(max_inflight_bytes=len(first) + len(first) // 2, batch_max_delay_ms=600_000, threads=1)
    pending = asyncio.create_task(w.write("traces", first, 1))
    await asyncio.sleep(0)  # let it enqueue; the huge delay keeps it uncommitted
    assert w.stats.queued_requests_now == 1
    with pytest.raises(Overloaded):
        await w.write("traces", _traces(service, 1), 1)
    assert w.stats.queued_requests_now == 1  # the refused request was not queued
    assert w.stats.inflight_bytes_now == len(first)
    await _within(asyncio.to_thread(w.close, TIMEOUT))
    await _within(pending)
    assert _count(ch, "otel_traces", service) == 1
    assert w.stats.inflight_bytes_now == 0


async def test_refused_payload_does_not_fail_its_batch(make_writer: WriterFactory, ch: Client) -> None:
    w = make_writer(batch_max_delay_ms=300, threads=1)
    service = _service()
    results = await _within(asyncio.gather(
        w.write("traces", _traces(service, 2), 2),
        w.write("traces", GARBAGE, 1),
        w.write("traces", _traces(service, 3), 3),
        return_exceptions=True,
    ))
    assert results[0] is None and results[2] is None, results
    assert isinstance(results[1], RejectedPayload), results
    assert _count(ch, "otel_traces", service) == 5
    assert w.stats.failures >= 1
    assert w.stats.inflight_bytes_now == 0
    # the writer keeps working afterwards
    await _within(w.write("traces", _traces(service, 1), 1))
    assert _count(ch, "otel_traces", service) == 6


async def test_single_refused_payload(make_writer: WriterFactory) -> None:
    w = make_writer(batch_max_delay_ms=10)
    with pytest.raises(RejectedPayload):
        await _within(w.write("logs", GARBAGE, 1))


async def test_close_flushes_pending(make_writer: WriterFactory, ch: Client) -> None:
    w = make_writer(batch_max_delay_ms=600_000, threads=2)
    service = _service()
    tasks = [asyncio.create_task(w.write("traces", _traces(service, 2), 2)) for _ in range(4)]
    await asyncio.sleep(0)
    assert w.stats.queued_requests_now == 4
    await _within(asyncio.to_thread(w.close, TIMEOUT))
    await _within(asyncio.gather(*tasks))
    assert _count(ch, "otel_traces", service) == 8
    with pytest.raises(StoreUnavailable):
        await w.write("traces", _traces(service, 1), 1)


def _with_service(signal: str, service: str) -> Any:
    req: Any = parse_json(BY_NAME[signal].request, example_bytes(signal))
    t = now_ns()
    for res in getattr(req, f"resource_{'spans' if signal == 'traces' else signal}"):
        res.resource.attributes[0].value.string_value = service
    if signal == "logs":
        for r in req.resource_logs[0].scope_logs[0].log_records:
            r.time_unix_nano = r.observed_time_unix_nano = t
    if signal == "metrics":
        for m in req.resource_metrics[0].scope_metrics[0].metrics:
            for p in getattr(m, m.WhichOneof("data")).data_points:
                p.start_time_unix_nano, p.time_unix_nano = t - 1_000_000_000, t
    return req


async def test_logs_and_metrics_land_in_their_tables(make_writer: WriterFactory, ch: Client) -> None:
    w = make_writer(batch_max_delay_ms=20)
    service = _service()
    logs = _with_service("logs", service).SerializeToString()
    metrics = _with_service("metrics", service).SerializeToString()
    await _within(asyncio.gather(w.write("logs", logs, 1), w.write("metrics", metrics, 4)))
    assert _count(ch, "otel_logs", service) == 1
    for kind in ("sum", "gauge", "histogram", "exponential_histogram"):
        assert _count(ch, f"otel_metrics_{kind}", service) == 1, kind
    body = ch.query("SELECT Body, TraceId FROM otel_logs WHERE ServiceName = {s:String}",
                    parameters={"s": service}).result_rows
    assert body == [("Example log record", "5b8efff798038103d269b633813fc60c")]
