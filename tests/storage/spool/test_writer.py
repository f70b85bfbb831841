"""storage.spool.writer.SpoolingWriter against the session's embedded chDB (and a closed port as a
store that is down).

Each test writes under its own service names and spool directory and counts rows by service, so tests
never see each other's data. No wall-clock assertions.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from clickhouse_connect.driver.client import Client

from contracts.errors import Overloaded, StoreUnavailable
from receiver.decode import parse_json
from receiver.signals import BY_NAME
from storage.clickhouse.client import connect, protobuf_settings
from storage.clickhouse.inserter import ChunkInserter
from storage.spool.segments import Record, SegmentLog
from storage.spool.writer import SpoolingWriter
from tests.receiver import example_bytes, now_ns, span_request
from tests.storage.spool import spool_defaults

T = TypeVar("T")
GARBAGE = b"\xff" * 64  # not an OTLP message: ClickHouse's Protobuf reader refuses it as data
TIMEOUT = 60.0
DOWN = "http://127.0.0.1:9/"  # discard port: nothing listens, every insert fails as "unavailable"

WriterFactory = Callable[..., SpoolingWriter]


@pytest.fixture
def make_writer(chdb_dsn: str, tmp_path: Path) -> Iterator[WriterFactory]:
    writers: list[SpoolingWriter] = []

    def make(spool: Path | None = None, dsn: str = chdb_dsn, start: bool = True, **kwargs: Any) -> SpoolingWriter:
        w = SpoolingWriter(spool or tmp_path / "spool",
                           lambda: ChunkInserter(lambda: connect(dsn), lambda m: protobuf_settings(chdb_dsn, m)),
                           **{**spool_defaults(), **kwargs})
        if start:
            w.start()
        writers.append(w)
        return w

    yield make
    for w in writers:
        w.close(timeout=5)


def _service() -> str:
    return f"spool-test-{uuid.uuid4().hex[:12]}"


def _traces(service: str, spans: int) -> bytes:
    t = now_ns()
    return span_request(*[t + i for i in range(spans)], service=service,  # type: ignore[no-any-return]
                        trace_id=uuid.uuid4().bytes).SerializeToString()


def _count(ch: Client, table: str, service: str) -> int:
    return int(ch.query(f"SELECT count() FROM {table} WHERE ServiceName = {{s:String}}",
                        parameters={"s": service}).result_rows[0][0])


async def _within(aw: Awaitable[T]) -> T:
    return await asyncio.wait_for(aw, TIMEOUT)


async def test_acknowledged_writes_become_visible_exactly(make_writer: WriterFactory, ch: Client) -> None:
    w = make_writer()
    service = _service()
    await _within(asyncio.gather(*(w.write("traces", _traces(service, n), n) for n in range(1, 21))))
    assert await _within(w.wait_visible(TIMEOUT))
    assert _count(ch, "otel_traces", service) == sum(range(1, 21))
    assert w.stats.rows == sum(range(1, 21)) and w.stats.backlog_bytes_now == 0
    assert not list((w.dir / "traces").glob("*.seg")), "stored segments are deleted"


async def test_a_segment_larger_than_a_chunk_is_split_and_fully_stored(make_writer: WriterFactory,
                                                                          ch: Client) -> None:
    w = make_writer(flatten_max_rows=5, flatten_linger_ms=10_000)  # one segment, sealed by wait_visible
    service = _service()
    await _within(asyncio.gather(*(w.write("traces", _traces(service, 2), 2) for _ in range(12))))
    assert await _within(w.wait_visible(TIMEOUT))
    assert _count(ch, "otel_traces", service) == 24
    assert w.stats.batches >= 5  # 12 two-span requests, at most 5 rows per INSERT


def _previous_run(spool: Path, service: str, requests: int) -> Path:
    """Spool segments as a crashed process leaves them; return the traces segment."""
    log = SegmentLog(spool / "traces")
    log.append([Record(3, _traces(service, 3)) for _ in range(requests)])
    path = log.seal()
    assert path is not None
    return path


async def test_spool_of_a_previous_run_is_stored_once_even_when_replayed(make_writer: WriterFactory, ch: Client,
                                                                       tmp_path: Path) -> None:
    service = _service()
    spool = tmp_path / "crashed"
    segment = _previous_run(spool, service, 4)
    kept = tmp_path / "copy.seg"
    shutil.copy(segment, kept)
    w = make_writer(spool)
    assert await _within(w.wait_visible(TIMEOUT))
    assert _count(ch, "otel_traces", service) == 12
    assert not segment.exists()
    w.close(timeout=5)
    # a crash after the INSERT committed but before the segment was deleted: the same segment again
    shutil.copy(kept, segment)
    again = make_writer(spool, flatten_max_rows=1_000_000)
    assert await _within(again.wait_visible(TIMEOUT))
    assert not segment.exists()
    assert _count(ch, "otel_traces", service) == 12, "a replayed segment must be deduplicated"


async def test_a_request_the_store_refuses_is_dead_lettered_and_the_rest_stored(make_writer: WriterFactory,
                                                                                ch: Client) -> None:
    w = make_writer(flatten_linger_ms=10_000)
    service = _service()
    results = await _within(asyncio.gather(
        w.write("traces", _traces(service, 2), 2),
        w.write("traces", GARBAGE, 1),
        w.write("traces", _traces(service, 3), 3),
    ))
    assert results == [None, None, None]  # all three were durable when acknowledged
    assert await _within(w.wait_visible(TIMEOUT))
    assert _count(ch, "otel_traces", service) == 5
    assert w.stats.dead_letters == 1
    (dead,) = (w.dir / "dead" / "traces").glob("*.pb")
    assert dead.read_bytes() == GARBAGE
    assert "Code:" in dead.with_suffix(".error.txt").read_text()


async def test_store_down_keeps_the_spool_and_a_later_start_stores_it(make_writer: WriterFactory, ch: Client,
                                                                       tmp_path: Path) -> None:
    spool = tmp_path / "outage"
    service = _service()
    first = _traces(service, 4)
    down = make_writer(spool, dsn=DOWN, spool_max_bytes=2 * len(first))
    await _within(down.write("traces", first, 4))  # durable in the spool although the store is down
    assert not await down.wait_visible(1.0)
    while not down.stats.failures:
        await asyncio.sleep(0.05)
    with pytest.raises(StoreUnavailable):  # backlog full *because the store fails*: 503, not 429
        await _within(down.write("traces", _traces(service, 40), 40))
    assert "127.0.0.1" in down.stats.last_error
    await asyncio.to_thread(down.close, 1.0)
    assert list((spool / "traces").glob("*.seg"))
    up = make_writer(spool)
    assert await _within(up.wait_visible(TIMEOUT))
    assert _count(ch, "otel_traces", service) == 4


async def test_a_failing_store_is_retried_with_back_off_while_requests_keep_arriving(
        make_writer: WriterFactory, tmp_path: Path) -> None:
    """Every append wakes the flatteners; the back-off must still be slept in full (0.1, 0.2, 0.4 … s),
    not cut short into a retry loop that hammers a store which is down."""
    w = make_writer(tmp_path / "hammer", dsn=DOWN)
    service = _service()
    for _ in range(40):  # ~1 s of appends, each one notifying the flatteners
        await _within(w.write("traces", _traces(service, 1), 1))
        await asyncio.sleep(0.025)
    # within ~1 s, back-off allows at most 1 + (0.1 + 0.2 + 0.4 + 0.8 s) → 5 attempts; 40 without it
    assert 1 <= w.stats.failures <= 6, w.stats.failures


async def test_full_backlog_while_the_store_keeps_up_is_overloaded(make_writer: WriterFactory) -> None:
    w = make_writer(start=False, spool_max_bytes=1024)
    with pytest.raises(Overloaded):
        await w.write("traces", _traces(_service(), 20), 20)
    assert not w.has_capacity(2048)


async def test_close_spools_and_stores_what_was_queued(make_writer: WriterFactory, ch: Client) -> None:
    w = make_writer(flatten_linger_ms=60_000)
    service = _service()
    tasks = [asyncio.create_task(w.write("traces", _traces(service, 2), 2)) for _ in range(4)]
    await _within(asyncio.gather(*tasks))
    await _within(asyncio.to_thread(w.close, TIMEOUT))
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
    w = make_writer()
    service = _service()
    logs = _with_service("logs", service).SerializeToString()
    metrics = _with_service("metrics", service).SerializeToString()
    await _within(asyncio.gather(w.write("logs", logs, 1), w.write("metrics", metrics, 4)))
    assert await _within(w.wait_visible(TIMEOUT))
    assert _count(ch, "otel_logs", service) == 1
    for kind in ("sum", "gauge", "histogram", "exponential_histogram"):
        assert _count(ch, f"otel_metrics_{kind}", service) == 1, kind
