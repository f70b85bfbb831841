"""The flattener: one thread per signal storing sealed spool segments through a :class:`ChunkSink`.

* Scheduling: a segment is sealed when the flattener is free — after ``linger_s`` when idle, at once
  when it comes back from a flush, when a ``wait_visible`` caller waits, or when closing — so under
  load each insert carries everything that arrived during the previous one.
* Chunking: a sealed segment is cut into chunks of at most ``max_rows`` records / ``max_bytes`` bytes
  (:func:`chunks`, deterministic), each inserted with the token ``vigil:<segment>:<first>-<last>``
  (request indices in the segment), so re-flattening a segment after a crash stores nothing twice. The
  segment file is deleted only after all its chunks are committed.
* Failures: :class:`StoreUnavailable` is retried with back-off (0.1 s doubling to 5 s) forever — the
  data stays on disk; a chunk refused as data (:class:`RejectedPayload`) is retried one request at a
  time and a request still refused is moved to ``<spool>/dead/<signal>/<segment>-<index>.pb`` (with
  ``.error.txt``), counted and logged. Any other exception restarts the flattener with a fresh sink.
* Closing: the flattener stops at the closing deadline (between chunks; an INSERT under way is not
  interrupted); what is left stays spooled for the next start.

Thread-safety: a :class:`Flattener` runs on its own thread; it shares only the writer's
:class:`~storage.spool.state.SpoolState` (under its lock) and the thread-safe ``FlushObserver``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from contracts.errors import RejectedPayload, StoreUnavailable
from contracts.ingest import FlushObserver
from contracts.signals import Signal
from storage.spool.segments import Record, SegmentReader, remove
from storage.spool.sink import ChunkSink
from storage.spool.state import Segment, SpoolState

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0


def chunks(records: Iterable[Record], max_rows: int, max_bytes: int) -> Iterator[list[Record]]:
    """Split ``records`` in order, lazily, into chunks within both limits.

    Each chunk holds at least one record (a record larger than a limit is a chunk of its own).
    Deterministic: the same segment always gives the same chunks (and tokens).

    Args:
        records: The records of one segment, in order.
        max_rows: Most records (OTLP rows) per chunk.
        max_bytes: Most payload bytes per chunk.

    Yields:
        Consecutive, non-empty lists of records.
    """
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


class Flattener:
    """Stores one signal's sealed segments (see the module docstring).

    Args:
        state: The writer's shared state.
        signal: The signal this flattener stores.
        make_sink: Makes the sink this thread inserts through (called again after an unexpected error).
        max_rows: Most records per INSERT.
        max_bytes: Most payload bytes per INSERT.
        linger_s: How long (seconds) an idle flattener lets the open segment fill before sealing it.
        observer: Told about every chunk committed or failed.
        dead_dir: Where refused requests are kept (``<dead_dir>/<signal>/``).
    """

    def __init__(self, state: SpoolState, signal: Signal, make_sink: Callable[[], ChunkSink], *, max_rows: int,
                 max_bytes: int, linger_s: float, observer: FlushObserver, dead_dir: Path) -> None:
        """Prepare the flattener; it works once :meth:`run` is started on a thread."""
        self._state = state
        self.signal = signal
        self._make_sink = make_sink
        self._max_rows = max_rows
        self._max_bytes = max_bytes
        self._linger = linger_s
        self._observer = observer
        self._dead_dir = dead_dir / signal

    # ------------------------------------------------------------------ the thread
    def run(self) -> None:
        """Store sealed segments until closing leaves nothing (or no time) to store (the thread's body)."""
        attempt = 0
        while True:
            try:
                sink = self._make_sink()
                while True:
                    segment = self._next_segment()
                    if segment is None or not self._flatten_segment(segment, sink):
                        return  # closing (what is left stays spooled for the next start)
                    attempt = 0
            except Exception:  # noqa: BLE001 - a bug or an unexpected error must not stop ingest for good
                log.exception("the %s flattener failed; restarting it", self.signal)
                if self._backoff(attempt) is None:
                    return
                attempt += 1

    def _next_segment(self) -> Segment | None:
        """Block until a sealed segment is ready, asking for the open one to be sealed when due.

        Returns:
            The oldest sealed segment, or None when closing and nothing (or no time) is left.
        """
        s = self._state
        sig = s.signals[self.signal]
        with s.cond:
            while True:
                if sig.sealed:
                    return sig.sealed[0]
                if s.past_deadline():
                    return None
                if sig.first_unsealed and not sig.seal_requested:
                    age = time.monotonic() - sig.first_unsealed
                    if age >= self._linger or s.urgent or s.closing:
                        sig.seal_requested = True
                        s.cond.notify_all()
                    else:
                        s.cond.wait(self._linger - age)
                    continue
                if s.closing and not sig.first_unsealed and not sig.pending and not sig.seal_requested:
                    return None
                s.cond.wait(0.5 if s.closing else None)

    def _flatten_segment(self, segment: Segment, sink: ChunkSink) -> bool:
        """Store every chunk of ``segment``, then delete it; False when closing ran out of time."""
        assert segment.path is not None  # sealed
        path = segment.path
        attempt = 0
        while True:
            reader = SegmentReader(path)
            start = 0
            try:
                for chunk in chunks(reader, self._max_rows, self._max_bytes):
                    if self._state.out_of_time():
                        return False  # the rest is stored at the next start (stored chunks deduplicate)
                    if not self._store(sink, segment, path.stem, chunk, start):
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
        self._state.segment_done(self.signal, segment, remove(path))
        return True

    def _store(self, sink: ChunkSink, segment: Segment, name: str, chunk: list[Record], first: int) -> bool:
        """Commit ``chunk`` (requests ``first …`` of segment ``name``), retrying store failures.

        A chunk refused as data is retried request by request; a single request still refused is
        dead-lettered. Either way the requests then leave the backlog.

        Returns:
            False only when closing ran out of time (the chunk is left for the next start).
        """
        attempt = 0
        token = f"vigil:{name}:{first}-{first + len(chunk) - 1}"
        while True:
            started = time.monotonic()
            try:
                sink.insert(self.signal, [r.payload for r in chunk], token)
            except StoreUnavailable as exc:
                self._unavailable(len(chunk), attempt, exc)
                if self._backoff(attempt) is None:
                    return False
                attempt += 1
                continue
            except RejectedPayload as exc:
                self._observer.failed(self.signal, len(chunk), "rejected")
                if len(chunk) > 1:
                    log.warning("store refused a chunk of %d %s requests (%s); retrying one by one", len(chunk),
                                self.signal, str(exc)[:300])
                    return all(self._store(sink, segment, name, [r], i) for i, r in enumerate(chunk, start=first))
                self._dead_letter(name, first, chunk[0], str(exc))
            else:
                self._committed(chunk, time.monotonic() - started)
            self._state.stored(self.signal, segment, first, [r.rows for r in chunk])
            return True

    def _committed(self, chunk: list[Record], seconds: float) -> None:
        """Count a committed chunk (``seconds`` in the INSERT) and tell the observer."""
        s = self._state
        rows = sum(r.rows for r in chunk)
        with s.cond:
            s.stats.batches += 1
            s.stats.rows += rows
            s.stats.flush_seconds_total += seconds
            s.stats.last_success = time.monotonic()
        self._observer.flushed(self.signal, len(chunk), rows, seconds)

    def _unavailable(self, requests: int, attempt: int, exc: StoreUnavailable) -> None:
        """Count a chunk of ``requests`` the store failed (``attempt`` counts from 0), log it, tell the observer."""
        s = self._state
        with s.cond:
            s.stats.failures += 1
            s.note_failure(exc)
        self._observer.failed(self.signal, requests, "unavailable")
        log.warning("storing %d %s requests failed (attempt %d): %s", requests, self.signal, attempt + 1,
                    str(exc)[:500])

    def _backoff(self, attempt: int) -> float | None:
        """Sleep before retry number ``attempt`` (from 0): 0.1 s doubling up to 5 s.

        The whole delay is slept (appends wake the condition all the time, that must not shorten it).

        Returns:
            The delay slept in seconds, or None (without sleeping it) when closing leaves no time for it.
        """
        s = self._state
        delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2.0 ** attempt)
        until = time.monotonic() + delay
        with s.cond:
            while True:
                if s.closing and until > s.deadline:
                    return None
                left = until - time.monotonic()
                if left <= 0:
                    return delay
                s.cond.wait(left)

    def _dead_letter(self, segment: str, index: int, record: Record, error: str) -> None:
        """Keep the refused request ``index`` of ``segment`` under the dead-letter folder, count and log it."""
        target = self._dead_dir / f"{segment}-{index}.pb"
        try:
            self._dead_dir.mkdir(parents=True, exist_ok=True)
            target.write_bytes(record.payload)
            target.with_suffix(".error.txt").write_text(error)
        except OSError as exc:
            log.error("cannot keep the refused %s request in %s: %s", self.signal, target, exc)
        with self._state.cond:
            self._state.stats.dead_letters += 1
        log.error("the store refused a %s request of %d records; kept in %s: %s", self.signal, record.rows, target,
                  error[:500])
