"""The appender: admission control, and the one thread that appends requests to the open segments.

* :meth:`Appender.write` admits a request (or raises :class:`Overloaded` / :class:`StoreUnavailable`
  before anything is queued) and returns once the appender thread has appended it and, with
  ``fsync`` on, synced it. Every request waiting at that moment shares the append and the ``fsync``
  (group commit); once it returns, the request is acknowledged and counted in the backlog.
* :meth:`Appender.run` is the appender thread's body: the only code that touches the open segments.
  It also seals the open segment of a signal when that signal's flattener asks for it.
* Admission: at most ``max_inflight_bytes`` accepted and not yet on disk, at most
  ``spool_max_bytes`` on disk and not yet stored (plus those in flight). A full spool answers
  ``Overloaded`` while the store keeps up, ``StoreUnavailable`` while it fails.

Thread-safety: ``write`` and ``has_capacity`` may be called from any asyncio loop (each request's
answer is delivered on its own loop); ``run`` runs on one dedicated thread. Sizes are in bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from contracts.errors import Overloaded, StoreUnavailable
from contracts.signals import Signal
from storage.spool.segments import Record
from storage.spool.state import Pending, Segment, SignalState, SpoolState

log = logging.getLogger(__name__)

RETRY_AFTER_S = 1.0
"""The retry hint (seconds) of an ``Overloaded`` refusal."""


class Appender:
    """Admits requests and appends them to the spool (see the module docstring).

    Args:
        state: The writer's shared state.
        max_inflight_bytes: Most bytes accepted and not yet on disk.
        spool_max_bytes: Most bytes on disk and not yet stored, counting those in flight.
    """

    def __init__(self, state: SpoolState, max_inflight_bytes: int, spool_max_bytes: int) -> None:
        """Admit into ``state``; nothing runs until :meth:`run` is started on a thread."""
        self._state = state
        self._max_inflight = max_inflight_bytes
        self._spool_max = spool_max_bytes

    # ------------------------------------------------------------------ any thread / event loop
    def has_capacity(self, nbytes: int) -> bool:
        """Whether ``nbytes`` more would be admitted now: racy but safe (``write`` re-checks under the lock)."""
        s = self._state
        return (not s.closing and s.inflight + nbytes <= self._max_inflight
                and s.stats.backlog_bytes_now + s.inflight + nbytes <= self._spool_max)

    async def write(self, signal: Signal, payload: bytes, rows: int) -> None:
        """Return once ``payload`` is durable in the spool (appended, and synced with ``fsync`` on).

        Args:
            signal: The request's signal.
            payload: A validated, canonically encoded OTLP export request.
            rows: Its record count.

        Raises:
            Overloaded: Too many bytes wait for the disk, or the spool is full while the store keeps up.
            StoreUnavailable: Closing, the spool is full because the store keeps failing, or the disk
                refused the append. Nothing is kept when this raises.
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._admit(signal, payload, rows, loop, fut)
        await asyncio.shield(fut)

    def _admit(self, signal: Signal, payload: bytes, rows: int, loop: asyncio.AbstractEventLoop,
               fut: asyncio.Future[None]) -> None:
        """Queue the request for the appender thread or raise (takes the lock)."""
        s = self._state
        size = len(payload)
        with s.cond:
            if s.closing:
                raise StoreUnavailable("shutting down")
            if s.inflight + size > self._max_inflight:
                raise Overloaded(retry_after=RETRY_AFTER_S)
            if s.stats.backlog_bytes_now + s.inflight + size > self._spool_max:
                if s.failing():
                    raise StoreUnavailable(f"the store is failing and the spool is full: {s.stats.last_error}")
                raise Overloaded(retry_after=RETRY_AFTER_S)
            sig = s.signals[signal]
            sig.accepted += 1
            sig.pending.append(Pending(payload, rows, sig.accepted, loop, fut))
            s.inflight += size
            s.stats.inflight_bytes_now = s.inflight
            s.stats.queued_requests_now += 1
            s.cond.notify_all()

    # ------------------------------------------------------------------ the appender thread
    def run(self) -> None:
        """Append, sync and seal until closed (the appender thread's body).

        Exits when closing and every open segment is sealed, or when the closing deadline passed.
        """
        while True:
            work = self._take_work()
            if work is None:
                return
            for name, sig, batch in work:
                if batch:
                    self._append(name, sig, batch)
                if sig.seal_requested:
                    self._seal(sig)

    def _take_work(self) -> list[tuple[Signal, SignalState, list[Pending]]] | None:
        """Wait for requests or seal requests and take them; None when the thread should exit."""
        s = self._state
        with s.cond:
            while not any(sig.pending or sig.seal_requested for sig in s.signals.values()):
                idle = all(sig.log.open_path is None for sig in s.signals.values())
                if s.closing and (idle or time.monotonic() > s.deadline):
                    return None
                s.cond.wait(0.5 if s.closing else None)
            work = [(name, sig, sig.pending) for name, sig in s.signals.items()]
            for sig in s.signals.values():
                sig.pending = []
            return work

    def _seal(self, sig: SignalState) -> None:
        """Seal the open segment of ``sig`` and hand it to its flattener."""
        sealed = sig.log.seal()
        s = self._state
        with s.cond:
            if sealed is not None:
                sig.open.path = sealed
                sig.sealed.append(sig.open)
            sig.open, sig.first_unsealed, sig.seal_requested = Segment(), 0.0, False
            s.cond.notify_all()

    def _append(self, name: Signal, sig: SignalState, batch: list[Pending]) -> None:
        """Append ``batch`` in one write (and one ``fsync``), then answer every request of it."""
        err: BaseException | None = None
        written = 0
        try:
            written = sig.log.append([Record(p.rows, p.payload) for p in batch])
        except OSError as exc:
            log.warning("spooling %d %s requests failed: %s", len(batch), name, exc)
            err = StoreUnavailable(f"cannot write the ingest spool: {exc}")
        s = self._state
        last = batch[-1].seq
        with s.cond:
            s.inflight -= sum(len(p.payload) for p in batch)
            s.stats.inflight_bytes_now = s.inflight
            s.stats.queued_requests_now -= len(batch)
            if err is None:
                s.acknowledged(sig, last, written, len(batch), sum(p.rows for p in batch))
            else:
                _refused(sig, last)
                s.stats.spool_failures += 1
                s.note_failure(err)
            s.cond.notify_all()
        for p in batch:
            _settle(p, err)


def _refused(sig: SignalState, last: int) -> None:
    """Requests up to ``last`` were never acknowledged: "done" once whatever was spooled before them is.

    Call with the state's lock held.
    """
    if sig.log.open_path is not None:
        sig.open.highest = last
    elif sig.sealed:
        sig.sealed[-1].highest = last
    else:
        sig.done = max(sig.done, last)


def _settle(p: Pending, err: BaseException | None) -> None:
    """Answer ``p`` on its own event loop: success, or ``err`` (thread-safe)."""
    def done() -> None:
        if p.future.done():
            return
        if err is None:
            p.future.set_result(None)
        else:
            p.future.set_exception(err)

    with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting any more
        p.loop.call_soon_threadsafe(done)
