"""The state the spool writer's threads share, and the backlog bookkeeping behind ``backlog()``.

One :class:`SpoolState` per writer holds, per signal, the requests waiting for the disk, the open and
the sealed segments, and sequence numbers that say what is stored; the appender
(:mod:`storage.spool.appender`) and the flatteners (:mod:`storage.spool.flattener`) coordinate through
its condition variable.

Backlog accounting: every group commit adds an :class:`AckBatch` (acknowledgement time, requests,
records) to the open :class:`Segment`; every chunk a flattener commits (or dead-letters) takes its
requests off the front of the segment being flattened, so ``records`` is exact and ``lag_seconds`` is
the age of the oldest batch still (partly) unstored. Segments recovered at start-up are scanned once
(record headers only, see :func:`storage.spool.segments.scan`); their acknowledgement time is unknown
and taken to be the file's last modification (the last append to it), which makes their lag a lower
bound.

Thread-safety: every mutable field is guarded by ``SpoolState.cond`` unless its docstring says
otherwise; methods say whether they take the lock or expect it held. All times are
``time.monotonic()`` seconds unless named otherwise.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from contracts.freshness import Backlog
from contracts.signals import ALL_SIGNALS, Signal
from storage.spool.segments import SegmentLog, scan


@dataclass
class WriterStats:
    """Counters read by health and the self-metrics endpoint (monotonic unless named ``*_now``).

    Written under ``SpoolState.cond``; readers (health, self-metrics) read them without the lock, which
    is racy but safe for plain numbers and strings.
    """

    batches: int = 0
    """Chunks committed to the store."""
    rows: int = 0
    """Records committed to the store."""
    failures: int = 0
    """Chunks the store failed as unavailable (each retry counts)."""
    flush_seconds_total: float = 0.0
    """Seconds spent in committed INSERTs."""
    spool_failures: int = 0
    """Appends the disk refused (those requests were answered 503)."""
    dead_letters: int = 0
    """Requests the store refused as data, kept under ``<spool>/dead/``."""
    inflight_bytes_now: int = 0
    """Bytes accepted and not yet on disk."""
    backlog_bytes_now: int = 0
    """Spool bytes on disk and not yet stored."""
    queued_requests_now: int = 0
    """Requests accepted and not yet on disk."""
    last_success: float = 0.0
    """``time.monotonic()`` of the last committed chunk."""
    last_failure: float = 0.0
    """``time.monotonic()`` of the last chunk the store failed (not data errors) or append the disk refused."""
    last_error: str = ""
    """The message of that failure (at most 300 characters)."""


@dataclass
class Pending:
    """An accepted request waiting for the appender; its ``future`` is settled on ``loop``."""

    payload: bytes
    rows: int
    seq: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


@dataclass
class AckBatch:
    """Requests of one segment acknowledged together (one group commit) and not all stored yet."""

    acked: float
    """``time.monotonic()`` of the acknowledgement."""
    requests: int
    """Requests of the batch not yet stored."""
    rows: int
    """Their records."""


@dataclass
class Segment:
    """A spool segment of one signal: the open one (``path`` None) or a sealed one awaiting storage."""

    path: Path | None = None
    """The sealed file; None while the segment is open."""
    highest: int = 0
    """Highest request sequence number in the segment (acknowledged or refused)."""
    batches: deque[AckBatch] = field(default_factory=deque)
    """Acknowledged, not yet stored requests, oldest first."""
    reported: int = 0
    """Requests from the segment's start already taken off ``batches`` (re-flattening skips them)."""


@dataclass
class SignalState:
    """Per-signal state.

    Requests get sequence numbers; ``done`` is the highest one below which every request is stored or
    was refused.
    """

    log: SegmentLog
    """The signal's segment log; used by the appender thread only (not guarded)."""
    pending: list[Pending] = field(default_factory=list)
    """Accepted requests waiting for the appender."""
    sealed: list[Segment] = field(default_factory=list)
    """Sealed segments, oldest first; the flattener works on ``sealed[0]``."""
    open: Segment = field(default_factory=Segment)
    """The segment being appended to."""
    accepted: int = 0
    """Last sequence number handed out."""
    done: int = 0
    """Every request with a sequence number up to this one is stored or was refused."""
    backlog_bytes: int = 0
    """Spool bytes of this signal not yet stored."""
    unstored_rows: int = 0
    """Records acknowledged and not yet stored (the sum over all segments' ``batches``)."""
    first_unsealed: float = 0.0
    """``time.monotonic()`` the open segment got its first record (0: empty)."""
    seal_requested: bool = False
    """The flattener asked the appender to seal the open segment."""


def _recovered(path: Path, seq: int) -> Segment:
    """A segment left by an earlier run, with its requests counted and its acknowledgement estimated."""
    requests, rows = scan(path)
    age = max(0.0, time.time() - path.stat().st_mtime)  # wall clock: the file's last append
    batches = deque([AckBatch(time.monotonic() - age, requests, rows)] if requests else [])
    return Segment(path, seq, batches)


class SpoolState:
    """Everything the appender and the flatteners share; see the module docstring.

    Args:
        spool_dir: The spool directory (one sub-folder per signal).
        fsync: Whether appends are fsynced.
    """

    def __init__(self, spool_dir: Path, fsync: bool) -> None:
        """Open every signal's segment log, recovering (and counting) segments of an earlier run."""
        self.cond = threading.Condition()
        """Guards everything below and every :class:`SignalState`; notified on every change."""
        self.signals: dict[Signal, SignalState] = {}
        for name in ALL_SIGNALS:
            sig = SignalState(SegmentLog(spool_dir / name, fsync=fsync))
            sig.sealed = [_recovered(path, i) for i, path in enumerate(sig.log.recovered, start=1)]
            sig.accepted = len(sig.sealed)
            sig.backlog_bytes = sum(path.stat().st_size for path in sig.log.recovered)
            sig.unstored_rows = sum(b.rows for seg in sig.sealed for b in seg.batches)
            self.signals[name] = sig
        self.inflight = 0
        """Bytes accepted and not yet on disk."""
        self.closing = False
        self.deadline = float("inf")
        """``time.monotonic()`` by which closing must be done."""
        self.urgent = 0
        """``wait_visible`` callers waiting: seal without lingering."""
        self.stats = WriterStats()
        self.update_backlog()

    # ------------------------------------------------------------------ call with ``cond`` held
    def update_backlog(self) -> None:
        """Refresh ``stats.backlog_bytes_now`` (call with ``cond`` held)."""
        self.stats.backlog_bytes_now = sum(sig.backlog_bytes for sig in self.signals.values())

    def failing(self) -> bool:
        """Whether the latest store attempt or append failed (call with ``cond`` held)."""
        return self.stats.last_failure > self.stats.last_success

    def note_failure(self, error: BaseException) -> None:
        """Record a store or disk failure in the stats (call with ``cond`` held)."""
        self.stats.last_failure, self.stats.last_error = time.monotonic(), str(error)[:300]

    def past_deadline(self) -> bool:
        """Closing and out of time (call with ``cond`` held)."""
        return self.closing and time.monotonic() > self.deadline

    def acknowledged(self, sig: SignalState, last: int, written: int, requests: int, rows: int) -> None:
        """Account a successful group commit of ``requests`` holding ``rows`` records (``cond`` held).

        Args:
            sig: The signal's state.
            last: The highest sequence number of the batch.
            written: Bytes appended to the open segment.
            requests: Requests in the batch.
            rows: Their records.
        """
        now = time.monotonic()
        sig.open.highest = last
        sig.open.batches.append(AckBatch(now, requests, rows))
        sig.unstored_rows += rows
        sig.backlog_bytes += written
        sig.first_unsealed = sig.first_unsealed or now
        self.update_backlog()

    # ------------------------------------------------------------------ taking ``cond`` themselves
    def stored(self, signal: Signal, segment: Segment, first: int, rows: list[int]) -> None:
        """Take requests ``first …`` (their records: ``rows``) of ``segment`` off the backlog.

        Called by the flattener after a chunk was committed or dead-lettered; requests already taken
        off (a segment flattened again after an error) are skipped. Takes ``cond``.
        """
        with self.cond:
            sig = self.signals[signal]
            for r in rows[max(0, segment.reported - first):]:
                if not segment.batches:
                    break
                batch = segment.batches[0]
                take = min(r, batch.rows)
                batch.requests, batch.rows = batch.requests - 1, batch.rows - take
                sig.unstored_rows -= take
                if batch.requests <= 0:  # a recovered segment's scan may disagree with what was read
                    sig.unstored_rows -= batch.rows
                    segment.batches.popleft()
            segment.reported = max(segment.reported, first + len(rows))

    def segment_done(self, signal: Signal, segment: Segment, freed: int) -> None:
        """``segment`` (``sealed[0]``) is stored and its file, of ``freed`` bytes, deleted. Takes ``cond``."""
        with self.cond:
            sig = self.signals[signal]
            sig.sealed.remove(segment)
            sig.done = max(sig.done, segment.highest)
            sig.backlog_bytes -= freed
            sig.unstored_rows -= sum(b.rows for b in segment.batches)  # a torn tail is never stored
            segment.batches.clear()
            self.update_backlog()
            self.cond.notify_all()

    def out_of_time(self) -> bool:
        """Closing and past the deadline. Takes ``cond``."""
        with self.cond:
            return self.past_deadline()

    def backlog(self) -> dict[str, Backlog]:
        """Per signal name, acknowledged records not yet stored and the oldest one's age. Takes ``cond``."""
        with self.cond:
            now = time.monotonic()
            result: dict[str, Backlog] = {}
            for name, sig in self.signals.items():
                oldest = next((seg.batches[0].acked for seg in (*sig.sealed, sig.open) if seg.batches), None)
                lag = 0.0 if oldest is None else max(0.0, now - oldest)
                result[name.value] = Backlog(sig.unstored_rows, lag)
            return result

    def visible(self, marks: dict[Signal, int]) -> bool:
        """Whether every signal's ``done`` reached its mark (call with ``cond`` held)."""
        return all(self.signals[name].done >= mark for name, mark in marks.items())
