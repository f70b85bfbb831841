"""Spooling writer: acknowledge a request once it is on local disk; flatten into the store in big chunks.

Contract (the ``TelemetryWriter`` protocol):

* ``await write(signal, payload, rows)`` returns once ``payload`` (a validated, canonically encoded
  OTLP export request) is appended to the signal's spool segment and, with ``fsync`` on, synced —
  every request waiting at that moment shares the append and the ``fsync`` (group commit). It raises
  :class:`Overloaded` (too many bytes waiting for the disk, or the spool backlog is full while the
  store keeps up; retry later) or :class:`StoreUnavailable` (the spool cannot be written, the writer is
  closing, or the backlog is full because the store keeps failing; retry later).
* One flattener thread per signal turns sealed segments into ``INSERT … FORMAT Protobuf`` chunks of at
  most ``flatten_max_rows`` records / ``flatten_max_bytes`` bytes (ClickHouse's views do the
  flattening). A segment is sealed when the flattener is free: after ``flatten_linger_ms`` when idle,
  at once when it comes back from a flush — so under load each insert carries everything that arrived
  during the previous one and the per-INSERT fixed cost is spread over tens of thousands of records.
* Chunks are a deterministic function of a sealed segment and carry an insert-deduplication token
  naming it, so re-flattening a segment after a crash stores nothing twice. A segment file is
  deleted only after all its chunks are committed. Store failures are retried with back-off forever
  (the data stays on disk); a chunk the store refuses as *data* is retried one request at a time and a
  request it still refuses is moved to ``<spool>/dead/<signal>/`` (kept, counted, logged).
* ``await wait_visible(timeout)`` returns once everything acknowledged before the call is stored
  (read-your-writes for the query API); ``close(timeout)`` appends what is queued, then flattens the
  backlog until ``timeout`` — whatever is left stays spooled for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from contracts.errors import Overloaded, RejectedPayload, StoreUnavailable
from contracts.ingest import FlushObserver, InMemoryFlushObserver
from contracts.signals import ALL_SIGNALS, Signal
from storage.clickhouse.inserter import ChunkInserter
from storage.spool.segments import Record, SegmentLog, SegmentReader, remove

log = logging.getLogger(__name__)

MIB = 1024 * 1024
INSERT_GRACE_S = 20.0  # at shutdown, how long past the deadline an INSERT under way is waited for


@dataclass
class _Pending:
    payload: bytes
    rows: int
    seq: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


@dataclass
class WriterStats:
    """Counters read by health and the self-metrics endpoint (monotonic unless named *_now)."""

    batches: int = 0  # chunks committed to the store
    rows: int = 0
    failures: int = 0
    flush_seconds_total: float = 0.0
    spool_failures: int = 0  # appends the disk refused (those requests were answered 503)
    dead_letters: int = 0
    inflight_bytes_now: int = 0  # accepted, not yet on disk
    backlog_bytes_now: int = 0  # on disk, not yet stored
    queued_requests_now: int = 0
    last_success: float = 0.0  # time.monotonic() of the last committed chunk
    last_failure: float = 0.0  # … and of the last chunk the store failed (not data errors)
    last_error: str = ""


@dataclass
class _Signal:
    """Per-signal state; every field except ``log`` is guarded by the writer's condition. Requests get
    sequence numbers; ``done`` is the highest one below which every request is stored or was refused."""

    log: SegmentLog  # used by the appender thread only
    pending: list[_Pending] = field(default_factory=list)
    sealed: list[tuple[Path, int]] = field(default_factory=list)  # (segment, highest seq in it), oldest first
    open_max: int = 0  # highest seq in the open segment
    accepted: int = 0  # last seq handed out
    done: int = 0
    backlog: int = 0  # spool bytes not yet stored
    first_unsealed: float = 0.0  # monotonic time the open segment got its first record (0: empty)
    seal_requested: bool = False


class SpoolingWriter:
    def __init__(
        self,
        spool_dir: Path,
        make_inserter: Callable[[], ChunkInserter],
        *,
        flatten_max_rows: int = 25_000,
        flatten_max_bytes: int = 24 * MIB,
        flatten_linger_ms: int = 5,
        fsync: bool = True,
        max_inflight_bytes: int = 256 * MIB,
        spool_max_bytes: int = 256 * MIB,
        observer: FlushObserver | None = None,
    ) -> None:
        self.dir = spool_dir
        self._make_inserter = make_inserter
        self._max_rows = flatten_max_rows
        self._max_bytes = flatten_max_bytes
        self._linger = flatten_linger_ms / 1000
        self._max_inflight = max_inflight_bytes
        self._spool_max = spool_max_bytes
        self._observer: FlushObserver = observer or InMemoryFlushObserver()
        self._cond = threading.Condition()
        self._signals: dict[Signal, _Signal] = {}
        for name in ALL_SIGNALS:
            sig = _Signal(SegmentLog(spool_dir / name, fsync=fsync))
            sig.sealed = [(path, i) for i, path in enumerate(sig.log.recovered, start=1)]
            sig.accepted = len(sig.sealed)
            sig.backlog = sum(path.stat().st_size for path in sig.log.recovered)
            self._signals[name] = sig
        self._inflight = 0
        self._closing = False
        self._deadline = float("inf")
        self._urgent = 0  # wait_visible callers: seal without lingering
        self._threads: list[threading.Thread] = []
        self.stats = WriterStats()
        self._update_backlog()
        if any(sig.sealed for sig in self._signals.values()):
            log.info("ingest spool: %d bytes from the previous run will be stored", self.stats.backlog_bytes_now)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        targets: list[tuple[str, Callable[[], None]]] = [("vigil-spool", self._append_loop)]
        for name in ALL_SIGNALS:
            targets.append((f"vigil-flatten-{name}", functools.partial(self._flatten_loop, name)))
        for thread_name, target in targets:
            t = threading.Thread(target=target, name=thread_name, daemon=True)
            t.start()
            self._threads.append(t)

    def close(self, timeout: float = 10.0) -> None:
        """Spool what is queued, flatten the backlog for up to ``timeout`` seconds, stop the threads (an
        INSERT still under way at the deadline is waited for, up to ``INSERT_GRACE_S`` more)."""
        with self._cond:
            self._closing = True
            self._deadline = time.monotonic() + timeout
            self._cond.notify_all()
        for t in self._threads:  # an INSERT under way is waited for: exiting inside chDB crashes the engine
            t.join(max(0.0, self._deadline - time.monotonic()) + INSERT_GRACE_S)
            if t.is_alive():
                log.error("%s still busy %.0f s after the shutdown deadline", t.name, INSERT_GRACE_S)
        if all(not t.is_alive() for t in self._threads):
            for sig in self._signals.values():
                sig.log.close()

    # ------------------------------------------------------------------ ingest side
    def _failing(self) -> bool:
        s = self.stats
        return s.last_failure > s.last_success

    def has_capacity(self, nbytes: int) -> bool:
        """Racy but safe pre-check: ``write`` re-checks under the lock."""
        return (not self._closing and self._inflight + nbytes <= self._max_inflight
                and self.stats.backlog_bytes_now + self._inflight + nbytes <= self._spool_max)

    async def write(self, signal: Signal, payload: bytes, rows: int) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        size = len(payload)
        with self._cond:
            if self._closing:
                raise StoreUnavailable("shutting down")
            if self._inflight + size > self._max_inflight:
                raise Overloaded(retry_after=1.0)
            if self.stats.backlog_bytes_now + self._inflight + size > self._spool_max:
                if self._failing():
                    raise StoreUnavailable(f"the store is failing and the spool is full: {self.stats.last_error}")
                raise Overloaded(retry_after=1.0)
            sig = self._signals[signal]
            sig.accepted += 1
            sig.pending.append(_Pending(payload, rows, sig.accepted, loop, fut))
            self._inflight += size
            self.stats.inflight_bytes_now = self._inflight
            self.stats.queued_requests_now += 1
            self._cond.notify_all()
        await asyncio.shield(fut)

    async def wait_visible(self, timeout: float) -> bool:
        """Wait until everything acknowledged so far is stored; False if ``timeout`` ran out first."""
        with self._cond:
            marks = {name: sig.accepted for name, sig in self._signals.items()}
            if self._visible(marks):
                return True
        return await asyncio.to_thread(self._wait_visible, marks, timeout)

    def _visible(self, marks: dict[Signal, int]) -> bool:
        return all(self._signals[name].done >= mark for name, mark in marks.items())

    def _wait_visible(self, marks: dict[Signal, int], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            self._urgent += 1
            self._cond.notify_all()
            try:
                while not self._visible(marks):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
                return True
            finally:
                self._urgent -= 1

    # ------------------------------------------------------------------ spool (append) side
    def _append_loop(self) -> None:
        """The only thread that touches the open segments: appends, syncs and seals on request."""
        while True:
            with self._cond:
                while not any(sig.pending or sig.seal_requested for sig in self._signals.values()):
                    idle = all(sig.log.open_path is None for sig in self._signals.values())
                    if self._closing and (idle or time.monotonic() > self._deadline):
                        return
                    self._cond.wait(0.5 if self._closing else None)
                work = [(name, sig, sig.pending) for name, sig in self._signals.items()]
                for sig in self._signals.values():
                    sig.pending = []
            for name, sig, batch in work:
                if batch:
                    self._append(name, sig, batch)
                if sig.seal_requested:
                    sealed = sig.log.seal()
                    with self._cond:
                        if sealed is not None:
                            sig.sealed.append((sealed, sig.open_max))
                        sig.open_max, sig.first_unsealed, sig.seal_requested = 0, 0.0, False
                        self._cond.notify_all()

    def _append(self, name: Signal, sig: _Signal, batch: list[_Pending]) -> None:
        err: BaseException | None = None
        written = 0
        try:
            written = sig.log.append([Record(p.rows, p.payload) for p in batch])
        except OSError as exc:
            log.warning("spooling %d %s requests failed: %s", len(batch), name, exc)
            err = StoreUnavailable(f"cannot write the ingest spool: {exc}")
        last = batch[-1].seq
        with self._cond:
            self._inflight -= sum(len(p.payload) for p in batch)
            self.stats.inflight_bytes_now = self._inflight
            self.stats.queued_requests_now -= len(batch)
            if err is None:
                sig.open_max = last
                sig.backlog += written
                sig.first_unsealed = sig.first_unsealed or time.monotonic()
            else:
                # never acknowledged: "done" once whatever was spooled before them is stored
                if sig.log.open_path is not None:
                    sig.open_max = last
                elif sig.sealed:
                    sig.sealed[-1] = (sig.sealed[-1][0], last)
                else:
                    sig.done = max(sig.done, last)
                self.stats.spool_failures += 1
                self.stats.last_failure, self.stats.last_error = time.monotonic(), str(err)[:300]
            self._update_backlog()
            self._cond.notify_all()
        for p in batch:
            _settle(p, err)

    def _update_backlog(self) -> None:
        self.stats.backlog_bytes_now = sum(sig.backlog for sig in self._signals.values())

    # ------------------------------------------------------------------ flatten side
    def _next_segment(self, name: Signal) -> Path | None:
        """Block until a sealed segment of ``name`` is ready (asking for the open one to be sealed when
        due); None when closing and nothing is left."""
        sig = self._signals[name]
        with self._cond:
            while True:
                if sig.sealed:
                    return sig.sealed[0][0]
                if self._past_deadline():
                    return None
                if sig.first_unsealed and not sig.seal_requested:
                    age = time.monotonic() - sig.first_unsealed
                    if age >= self._linger or self._urgent or self._closing:
                        sig.seal_requested = True
                        self._cond.notify_all()
                    else:
                        self._cond.wait(self._linger - age)
                    continue
                if self._closing and not sig.first_unsealed and not sig.pending and not sig.seal_requested:
                    return None
                self._cond.wait(0.5 if self._closing else None)

    def _flatten_loop(self, name: Signal) -> None:
        attempt = 0
        while True:
            try:
                inserter = self._make_inserter()
                while True:
                    path = self._next_segment(name)
                    if path is None or not self._flatten_segment(name, path, inserter):
                        return  # closing (what is left stays spooled for the next start)
                    attempt = 0
            except Exception:  # noqa: BLE001 - a bug or an unexpected error must not stop ingest for good
                log.exception("the %s flattener failed; restarting it", name)
                if self._backoff(attempt) is None:
                    return
                attempt += 1

    def _flatten_segment(self, name: Signal, path: Path, inserter: ChunkInserter) -> bool:
        sig = self._signals[name]
        attempt = 0
        while True:
            reader = SegmentReader(path)
            start = 0
            try:
                for chunk in _chunks(reader, self._max_rows, self._max_bytes):
                    if self._out_of_time():
                        return False  # the rest is stored at the next start (stored chunks deduplicate)
                    token = f"{path.stem}:{start}-{start + len(chunk) - 1}"
                    if not self._store(name, inserter, token, chunk, start, path.stem):
                        return False
                    start += len(chunk)
                break
            except OSError as exc:
                log.error("cannot read spool segment %s: %s", path, exc)
                if self._backoff(attempt) is None:
                    return False
                attempt += 1
        if reader.damaged_bytes:
            log.warning("spool segment %s ends with %d bytes of a torn record (a crash mid-append; that request "
                        "was never acknowledged)", path.name, reader.damaged_bytes)
        freed = remove(path)
        with self._cond:
            _, highest = sig.sealed.pop(0)
            sig.done = max(sig.done, highest)
            sig.backlog -= freed
            self._update_backlog()
            self._cond.notify_all()
        return True

    def _store(self, signal: Signal, inserter: ChunkInserter, token: str, chunk: list[Record], first: int,
               segment: str) -> bool:
        """Commit ``chunk`` (retrying store failures); False only when closing ran out of time."""
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                inserter.insert(signal, [r.payload for r in chunk], f"vigil:{token}")
            except StoreUnavailable as exc:
                with self._cond:
                    self.stats.failures += 1
                    self.stats.last_failure, self.stats.last_error = time.monotonic(), str(exc)[:300]
                self._observer.failed(signal, len(chunk), "unavailable")
                log.warning("storing %d %s requests failed (attempt %d): %s", len(chunk), signal, attempt + 1,
                            str(exc)[:500])
                if self._backoff(attempt) is None:
                    return False
                attempt += 1
                continue
            except RejectedPayload as exc:
                self._observer.failed(signal, len(chunk), "rejected")
                if len(chunk) > 1:
                    log.warning("store refused a chunk of %d %s requests (%s); retrying one by one", len(chunk),
                                signal, str(exc)[:300])
                    for i, record in enumerate(chunk, start=first):
                        if not self._store(signal, inserter, f"{segment}:{i}-{i}", [record], i, segment):
                            return False
                    return True
                self._dead_letter(signal, segment, first, chunk[0], str(exc))
                return True
            elapsed = time.monotonic() - started
            rows = sum(r.rows for r in chunk)
            with self._cond:
                self.stats.batches += 1
                self.stats.rows += rows
                self.stats.flush_seconds_total += elapsed
                self.stats.last_success = time.monotonic()
            self._observer.flushed(signal, len(chunk), rows, elapsed)
            return True

    def _past_deadline(self) -> bool:
        """Closing and out of time (call with ``_cond`` held)."""
        return self._closing and time.monotonic() > self._deadline

    def _out_of_time(self) -> bool:
        with self._cond:
            return self._past_deadline()

    def _backoff(self, attempt: int) -> float | None:
        """Sleep before retrying a failure (the whole delay: appends wake the condition all the time);
        None when closing leaves no time for it."""
        delay = min(5.0, 0.1 * 2 ** attempt)
        until = time.monotonic() + delay
        with self._cond:
            while True:
                if self._closing and until > self._deadline:
                    return None
                left = until - time.monotonic()
                if left <= 0:
                    return delay
                self._cond.wait(left)

    def _dead_letter(self, signal: Signal, segment: str, index: int, record: Record, error: str) -> None:
        folder = self.dir / "dead" / signal
        target = folder / f"{segment}-{index}.pb"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target.write_bytes(record.payload)
            target.with_suffix(".error.txt").write_text(error)
        except OSError as exc:
            log.error("cannot keep the refused %s request in %s: %s", signal, target, exc)
        self.stats.dead_letters += 1
        log.error("the store refused a %s request of %d records; kept in %s: %s", signal, record.rows, target,
                  error[:500])


def _chunks(records: Iterable[Record], max_rows: int, max_bytes: int) -> Iterator[list[Record]]:
    """Split ``records`` in order, lazily; each chunk holds at least one record and otherwise stays
    within both limits. Deterministic: the same segment always gives the same chunks (and tokens)."""
    current: list[Record] = []
    rows = size = 0
    for r in records:
        if current and (rows + r.rows > max_rows or size + len(r.payload) > max_bytes):
            yield current
            current, rows, size = [], 0, 0
        current.append(r)
        rows += r.rows
        size += len(r.payload)
    if current:
        yield current


def _settle(p: _Pending, err: BaseException | None) -> None:
    def done() -> None:
        if p.future.done():
            return
        if err is None:
            p.future.set_result(None)
        else:
            p.future.set_exception(err)

    with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting any more
        p.loop.call_soon_threadsafe(done)
