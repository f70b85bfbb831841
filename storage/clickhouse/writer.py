"""Group-commit writer: raw OTLP request bytes → ``INSERT … FORMAT Protobuf`` in large batches.

Contract (the ``TelemetryWriter`` protocol):

* ``await write(signal, payload, rows)`` returns only after the batch holding ``payload`` is
  committed to the columnar store; it raises :class:`Overloaded` (nothing queued; retry later),
  :class:`StoreUnavailable` (store down; retry later) or :class:`RejectedPayload` (this payload is
  permanently bad; other payloads in its batch are unaffected — a failing batch is retried one
  request at a time to isolate the culprit).
* Batches flush on ``batch_max_rows`` records, ``batch_max_bytes`` bytes, or ``batch_max_delay_ms``
  age of the oldest request, whichever comes first — and, when no flush of that signal is running,
  as soon as the oldest request has lingered ``batch_linger_ms`` (a lone sender is not made to wait
  the full delay; concurrent senders still share one insert, whose fixed cost dominates).
* Memory is bounded by ``max_inflight_bytes`` of accepted-but-uncommitted payload bytes.
* Thread-safety: ``write`` is called from one asyncio loop; flushes run on ``threads`` worker threads,
  each with its own ClickHouse handle (chDB handles run one statement at a time and release the GIL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from google.protobuf.internal.encoder import _VarintBytes  # type: ignore[attr-defined]

from storage.clickhouse import ddl
from storage.errors import Overloaded, RejectedPayload, StoreUnavailable, WriteError
from storage.observer import FlushObserver, NullFlushObserver

log = logging.getLogger(__name__)

SIGNALS = tuple(ddl.STAGING)

# ClickHouse error codes that mean "this data is bad" (permanent); every other failure — disk full,
# read-only, memory limit, missing table, connection loss — means "the store is not able right now"
# and is answered as retryable. Requests are validated with upb before batching, so data errors
# here are rare by construction.
DATA_ERROR_CODES = frozenset({6, 26, 27, 32, 33, 36, 38, 41, 53, 69, 70, 72, 117, 128, 131, 321, 407, 436, 444})
_CODE = re.compile(r"Code: (\d+)")


def is_data_error(exc: BaseException) -> bool:
    match = _CODE.search(str(exc))
    return match is not None and int(match.group(1)) in DATA_ERROR_CODES


@dataclass
class _Pending:
    payload: bytes
    rows: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    enqueued: float = field(default_factory=time.monotonic)
    settled: bool = False


@dataclass
class WriterStats:
    """Counters read by the self-metrics endpoint (monotonic unless named *_now)."""

    batches: int = 0
    rows: int = 0
    failures: int = 0
    flush_seconds_total: float = 0.0
    inflight_bytes_now: int = 0
    queued_requests_now: int = 0
    last_success: float = 0.0  # time.monotonic() of the last committed batch
    last_failure: float = 0.0  # … and of the last batch the store failed (not data errors)
    last_error: str = ""


class GroupCommitWriter:
    def __init__(
        self,
        connect: Callable[[], Client],
        protobuf_settings: Callable[[str], dict[str, Any]],
        *,
        batch_max_rows: int = 20_000,
        batch_max_bytes: int = 16 * 1024 * 1024,
        batch_max_delay_ms: int = 20,
        batch_linger_ms: int = 10,
        threads: int = 2,
        max_inflight_bytes: int = 256 * 1024 * 1024,
        observer: FlushObserver | None = None,
    ) -> None:
        self._observer: FlushObserver = observer or NullFlushObserver()
        self._connect = connect
        self._max_rows = batch_max_rows
        self._max_bytes = batch_max_bytes
        self._max_delay = batch_max_delay_ms / 1000
        self._linger = min(batch_linger_ms, batch_max_delay_ms) / 1000
        self._flushing = dict.fromkeys(SIGNALS, 0)
        self._threads_n = threads
        self._max_inflight = max_inflight_bytes
        self._queues: dict[str, deque[_Pending]] = {s: deque() for s in SIGNALS}
        self._queued_rows = dict.fromkeys(SIGNALS, 0)
        self._queued_bytes = dict.fromkeys(SIGNALS, 0)
        self._cond = threading.Condition()
        self._inflight = 0
        self._closing = False
        self._threads: list[threading.Thread] = []
        self._settings = {signal: protobuf_settings(ddl.STAGING[signal][1]) for signal in SIGNALS}
        self.stats = WriterStats()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        for i in range(self._threads_n):
            t = threading.Thread(target=self._run, name=f"vigil-writer-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def close(self, timeout: float = 10.0) -> None:
        """Flush everything queued, then stop the threads (waits up to ``timeout`` seconds)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------ ingest side
    def has_capacity(self, nbytes: int) -> bool:
        """Racy but safe pre-check: ``write`` re-checks under the lock."""
        return not self._closing and self._inflight + nbytes <= self._max_inflight

    @property
    def retry_after(self) -> float:
        return max(1.0, self._max_delay * 2)

    async def write(self, signal: str, payload: bytes, rows: int) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        size = len(payload)
        with self._cond:
            if self._closing:
                raise StoreUnavailable("shutting down")
            if self._inflight + size > self._max_inflight:
                raise Overloaded(retry_after=max(1.0, self._max_delay * 2))
            self._inflight += size
            self._queues[signal].append(_Pending(payload, rows, loop, fut))
            self._queued_rows[signal] += rows
            self._queued_bytes[signal] += size
            self.stats.inflight_bytes_now = self._inflight
            self.stats.queued_requests_now += 1
            self._cond.notify()
        await asyncio.shield(fut)

    # ------------------------------------------------------------------ flush side
    def _ready_signal(self, now: float) -> tuple[str | None, float]:
        """The signal whose batch should flush now, else None and how long to wait."""
        wait = self._max_delay
        for s, q in self._queues.items():
            if not q:
                continue
            full = self._queued_rows[s] >= self._max_rows or self._queued_bytes[s] >= self._max_bytes
            age = now - q[0].enqueued
            due = self._linger if self._flushing[s] == 0 else self._max_delay
            if full or age >= due or self._closing:
                return s, 0.0
            wait = min(wait, due - age)
        return None, wait

    def _take(self, signal: str) -> list[_Pending]:
        q, rows, size = self._queues[signal], 0, 0
        batch: list[_Pending] = []
        while q and (not batch or (rows + q[0].rows <= self._max_rows
                                   and size + len(q[0].payload) <= self._max_bytes)):
            p = q.popleft()
            batch.append(p)
            rows += p.rows
            size += len(p.payload)
        self._queued_rows[signal] -= rows
        self._queued_bytes[signal] -= size
        self.stats.queued_requests_now -= len(batch)
        return batch

    def _run(self) -> None:
        client: Client | None = None
        while True:
            with self._cond:
                while True:
                    signal, wait = self._ready_signal(time.monotonic())
                    if signal is not None:
                        batch = self._take(signal)
                        self._flushing[signal] += 1
                        break
                    if self._closing:
                        return
                    self._cond.wait(wait)
            try:
                if client is None:
                    client = self._connect()
                self._flush(client, signal, batch)
            except Exception as exc:  # noqa: BLE001 - every failure is reported to the waiters
                log.warning("flush of %d %s requests failed: %s", len(batch), signal, exc)
                client = None
                err = exc if isinstance(exc, WriteError) else StoreUnavailable(str(exc))
                self.stats.last_failure, self.stats.last_error = time.monotonic(), str(exc)[:300]
                self._observer.failed(signal, len(batch), "unavailable")
                for p in batch:
                    self._settle(p, err)
            finally:
                with self._cond:
                    self._flushing[signal] -= 1
                    self._cond.notify_all()

    def _insert(self, client: Client, signal: str, batch: list[_Pending]) -> None:
        data = b"".join(_VarintBytes(len(p.payload)) + p.payload for p in batch)
        client.raw_insert(ddl.STAGING[signal][0], None, data, fmt="Protobuf", settings=self._settings[signal])

    def _flush(self, client: Client, signal: str, batch: list[_Pending]) -> None:
        started = time.monotonic()
        try:
            self._insert(client, signal, batch)
        except OperationalError as exc:
            raise StoreUnavailable(str(exc)) from exc
        except DatabaseError as exc:
            self.stats.failures += 1
            if len(batch) > 1:
                # Whatever the cause, isolate it: each request is retried alone, so one bad payload
                # never fails the others (a store that is really down fails each one fast).
                log.warning("batch of %d %s requests failed (%s); retrying one by one", len(batch), signal, exc)
                for p in batch:
                    try:
                        self._flush(client, signal, [p])
                    except WriteError as one:
                        self._settle(p, one)
                return
            if not is_data_error(exc):
                raise StoreUnavailable(str(exc)) from exc
            log.warning("%s request refused by the store: %s", signal, exc)
            self._observer.failed(signal, 1, "rejected")
            self._settle(batch[0], RejectedPayload(str(exc)))
            return
        self.stats.batches += 1
        self.stats.rows += sum(p.rows for p in batch)
        elapsed = time.monotonic() - started
        self.stats.last_success = time.monotonic()
        self.stats.flush_seconds_total += elapsed
        self._observer.flushed(signal, len(batch), sum(p.rows for p in batch), elapsed)
        for p in batch:
            self._settle(p, None)

    def _settle(self, p: _Pending, err: BaseException | None) -> None:
        """Answer ``p`` once (later calls are no-ops) and release its in-flight bytes."""
        with self._cond:
            if p.settled:
                return
            p.settled = True
            self._inflight -= len(p.payload)
            self.stats.inflight_bytes_now = self._inflight

        def done() -> None:
            if p.future.done():
                return
            if err is None:
                p.future.set_result(None)
            else:
                p.future.set_exception(err)

        with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting any more
            p.loop.call_soon_threadsafe(done)
