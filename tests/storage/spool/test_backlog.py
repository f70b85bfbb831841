"""SpoolingWriter.backlog() and the flattener's bookkeeping, against in-process fake sinks (no store).

The sinks run on the flattener threads and block on events the test controls, so "the spool fills
faster than the sink drains it" is a state the test sets up, not a race it hopes to win.
"""

from __future__ import annotations

import ast
import asyncio
import errno
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.errors import RejectedPayload, StoreUnavailable
from contracts.freshness import Backlog, IngestProgress
from contracts.signals import ALL_SIGNALS, Signal
from storage.spool import segments
from storage.spool.segments import Record, SegmentLog
from storage.spool.sink import ChunkSink
from storage.spool.writer import SpoolingWriter
from tests.storage.spool import spool_defaults

TIMEOUT = 30.0
TRACES = Signal.TRACES


class GatedSink:
    """A sink that records every insert and, while ``gate`` is clear, blocks in it.

    ``entered`` counts inserts begun; ``fail`` maps a token to the exceptions its next inserts raise.
    """

    def __init__(self, gated: bool = True) -> None:
        """A sink whose gate starts closed when ``gated``."""
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.lock = threading.Condition()
        self.entered = 0
        self.committed: list[tuple[str, list[bytes], str]] = []
        self.fail: dict[str, list[BaseException]] = {}

    def insert(self, signal: Signal, payloads: list[bytes], token: str) -> None:
        """Block until the gate opens, then commit (or raise what ``fail`` says for ``token``)."""
        with self.lock:
            self.entered += 1
            self.lock.notify_all()
        if not self.gate.wait(TIMEOUT):
            raise StoreUnavailable("the test never opened the gate")
        with self.lock:
            if self.fail.get(token):
                raise self.fail[token].pop(0)
            self.committed.append((str(signal), payloads, token))

    def wait_entered(self, n: int) -> None:
        """Block (in a worker thread) until ``n`` inserts have begun."""
        with self.lock:
            assert self.lock.wait_for(lambda: self.entered >= n, TIMEOUT), self.entered


Factory = Callable[..., SpoolingWriter]


@pytest.fixture
def make_writer(tmp_path: Path) -> Iterator[Factory]:
    """Writers on ``tmp_path / "spool"`` (unless given) with fsync off; all closed at the end."""
    writers: list[SpoolingWriter] = []

    def make(make_sink: Callable[[], ChunkSink], spool: Path | None = None, start: bool = True,
             **kwargs: Any) -> SpoolingWriter:
        kwargs.setdefault("fsync", False)
        w = SpoolingWriter(spool or tmp_path / "spool", make_sink, **{**spool_defaults(), **kwargs})
        if start:
            w.start()
        writers.append(w)
        return w

    yield make
    for w in writers:
        w.close(timeout=2)


def _traces(backlog: dict[str, Backlog]) -> Backlog:
    """The traces entry, after checking the other signals have nothing pending."""
    assert set(backlog) == {s.value for s in ALL_SIGNALS}
    assert all(b == Backlog() for name, b in backlog.items() if name != TRACES)
    return backlog[TRACES]


def _previous_run(spool: Path, rows: list[int]) -> Path:
    """A sealed traces segment as an earlier process leaves it: one request of ``n`` records per entry."""
    log = SegmentLog(spool / TRACES, fsync=False)
    log.append([Record(n, f"old-{i}".encode()) for i, n in enumerate(rows)])
    path = log.seal()
    assert path is not None
    return path


async def test_backlog_grows_while_a_slow_sink_blocks_and_drains_to_zero(make_writer: Factory) -> None:
    """Writes acknowledged while the sink is stuck count, age, and leave the backlog once stored."""
    sink = GatedSink()
    w = make_writer(lambda: sink, flatten_linger_ms=0)
    progress: IngestProgress = w
    assert _traces(progress.backlog()) == Backlog()
    await asyncio.wait_for(w.write(TRACES, b"first", 2), TIMEOUT)
    await asyncio.to_thread(sink.wait_entered, 1)  # the flattener is stuck inside the first INSERT
    await asyncio.wait_for(asyncio.gather(w.write(TRACES, b"second", 3), w.write(TRACES, b"third", 4)), TIMEOUT)
    await asyncio.sleep(0.01)
    stuck = _traces(progress.backlog())
    assert stuck.records == 9 and stuck.lag_seconds > 0
    assert not await w.wait_visible(0.05)
    later = _traces(progress.backlog())
    assert later.records == 9 and later.lag_seconds > stuck.lag_seconds  # the oldest ages
    sink.gate.set()
    assert await asyncio.wait_for(w.wait_visible(TIMEOUT), TIMEOUT)
    assert _traces(progress.backlog()) == Backlog()
    assert [p for _, payloads, _ in sink.committed for p in payloads] == [b"first", b"second", b"third"]
    assert w.stats.rows == 9 and w.stats.backlog_bytes_now == 0


async def test_recovered_segments_count_before_start_and_drain_chunk_by_chunk(make_writer: Factory,
                                                                            tmp_path: Path) -> None:
    """An earlier run's segment counts before any thread starts (rows from its headers)."""
    spool = tmp_path / "crashed"
    segment = _previous_run(spool, [1, 2, 3, 4])
    sink = GatedSink()
    w = make_writer(lambda: sink, spool, start=False, flatten_max_rows=1)  # one request per chunk
    recovered = _traces(w.backlog())
    assert recovered.records == 10 and recovered.lag_seconds > 0  # the file's age: a lower bound
    w.start()
    await asyncio.to_thread(sink.wait_entered, 1)
    assert _traces(w.backlog()).records == 10  # the first chunk is not committed yet
    sink.gate.set()
    assert await asyncio.wait_for(w.wait_visible(TIMEOUT), TIMEOUT)
    assert _traces(w.backlog()) == Backlog()
    assert [token for *_, token in sink.committed] == [f"vigil:{segment.stem}:{i}-{i}" for i in range(4)]
    assert not segment.exists()


class StepSink(GatedSink):
    """A gated sink that re-closes its gate after every insert, so each chunk needs a ``step``."""

    def insert(self, signal: Signal, payloads: list[bytes], token: str) -> None:
        """Commit like :class:`GatedSink`, then close the gate again."""
        try:
            super().insert(signal, payloads, token)
        finally:
            self.gate.clear()


async def test_each_committed_chunk_leaves_the_backlog(make_writer: Factory, tmp_path: Path) -> None:
    """Requests leave the backlog chunk by chunk, not when their whole segment is done."""
    spool = tmp_path / "steps"
    _previous_run(spool, [1, 2, 3])
    sink = StepSink()
    w = make_writer(lambda: sink, spool, flatten_max_rows=1)
    for entered, left in ((1, 6), (2, 5), (3, 3)):
        await asyncio.to_thread(sink.wait_entered, entered)
        assert _traces(w.backlog()).records == left
        sink.gate.set()
    assert await asyncio.wait_for(w.wait_visible(TIMEOUT), TIMEOUT)
    assert _traces(w.backlog()) == Backlog()


async def test_a_segment_flattened_again_after_an_error_is_not_counted_twice(make_writer: Factory,
                                                                           tmp_path: Path) -> None:
    """Requests taken off the backlog are not taken off again when their segment is re-sent.

    The flattener restarts on an unexpected error and re-sends the segment from its start (the store
    deduplicates).
    """
    spool = tmp_path / "restart"
    path = _previous_run(spool, [1, 2, 4])
    first, second = GatedSink(gated=False), StepSink()
    first.fail[f"vigil:{path.stem}:1-1"] = [RuntimeError("a bug")]
    sinks = iter([first, second])

    def make_sink() -> ChunkSink:
        traces = threading.current_thread().name == f"vigil-flatten-{TRACES}"
        return next(sinks) if traces else GatedSink(gated=False)

    w = make_writer(make_sink, spool, flatten_max_rows=1)
    await asyncio.to_thread(second.wait_entered, 1)  # chunk 0 again: already counted
    assert _traces(w.backlog()).records == 6
    second.gate.set()
    await asyncio.to_thread(second.wait_entered, 2)  # chunk 1, which failed the first time
    assert _traces(w.backlog()).records == 6
    second.gate.set()
    await asyncio.to_thread(second.wait_entered, 3)
    assert _traces(w.backlog()).records == 4
    second.gate.set()
    assert await asyncio.wait_for(w.wait_visible(TIMEOUT), TIMEOUT)
    assert _traces(w.backlog()) == Backlog()


async def test_store_outage_keeps_the_backlog_and_refused_data_leaves_it(make_writer: Factory) -> None:
    """A retried outage keeps the records pending; one-by-one retry stores one, dead-letters the other."""
    sink = GatedSink(gated=False)
    w = make_writer(lambda: sink, flatten_linger_ms=60_000)
    await asyncio.wait_for(asyncio.gather(w.write(TRACES, b"good", 2), w.write(TRACES, b"bad", 5)), TIMEOUT)
    name = next((w.dir / TRACES).glob("*.seg")).stem
    sink.fail = {f"vigil:{name}:0-1": [StoreUnavailable("down"), RejectedPayload("one of them is bad")],
                 f"vigil:{name}:1-1": [RejectedPayload("bad data")]}
    assert _traces(w.backlog()).records == 7
    assert await asyncio.wait_for(w.wait_visible(TIMEOUT), TIMEOUT)
    assert _traces(w.backlog()) == Backlog()
    assert w.stats.failures == 1 and w.stats.dead_letters == 1 and w.stats.rows == 2
    assert (w.dir / "dead" / TRACES / f"{name}-1.pb").read_bytes() == b"bad"


async def test_a_refused_append_is_not_acknowledged_nor_counted(make_writer: Factory,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A request the disk refused was answered 503: it is neither acknowledged nor pending."""
    w = make_writer(lambda: GatedSink(gated=False), flatten_linger_ms=60_000)

    def full(fd: int, data: bytes | memoryview) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("storage.spool.segments.os.write", full)
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(w.write(TRACES, b"lost", 3), TIMEOUT)
    assert _traces(w.backlog()) == Backlog()
    assert w.stats.spool_failures == 1
    monkeypatch.undo()
    await asyncio.wait_for(w.write(TRACES, b"kept", 1), TIMEOUT)
    assert _traces(w.backlog()).records == 1
    assert await asyncio.wait_for(w.wait_visible(TIMEOUT), TIMEOUT)
    assert _traces(w.backlog()) == Backlog()


def test_the_spool_does_not_know_the_store() -> None:
    """The writer gets its sinks from the composition root; nothing in storage/spool imports a store."""
    for path in Path(segments.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("storage.clickhouse"), path
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("storage.clickhouse") for a in node.names), path
