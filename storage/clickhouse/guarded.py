"""The columnar store as the composition root sees it: reader, chunk sinks, background sweeper, health.

:func:`open_columnar` is the one factory. With ``part_check_free_bytes > 0`` on a single node it puts the
part guard (:mod:`storage.clickhouse.part_guard`) around a plain reader and inserter, neither of which
knows the guard exists:

* :class:`GuardedReader` wraps a reader: reads skip hidden (damaged) parts, and a read failing with a
  damage-class error (:data:`~storage.clickhouse.parts.DAMAGE_ERROR_CODES`) makes the guard check the
  part the error names, then is retried once if that hid a part.
* the sinks are :class:`~storage.clickhouse.inserter.ChunkInserter` s with the guard's after-commit check;
  while the guard holds (the disk has almost no room left) they raise
  :class:`~contracts.errors.StoreUnavailable` before inserting, so the spool keeps the data and retries
  with back-off.
* :meth:`ColumnarStore.start` / :meth:`ColumnarStore.stop` run the sweeper thread, which checks merged
  parts and stops merges while a disk is nearly full (``SYSTEM STOP MERGES``).

Migrations are not run here (the caller migrates first). Everything is thread-safe; ``make_sink`` gives
each flattener thread its own inserter and handle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import numpy.typing as npt
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from contracts.errors import StoreUnavailable
from contracts.health import timed_check
from contracts.signals import Signal
from storage.clickhouse.client import connect, is_embedded, protobuf_settings
from storage.clickhouse.inserter import ChunkInserter, error_code
from storage.clickhouse.linker import Linker
from storage.clickhouse.part_guard import HOLD_MESSAGE, PartGuard
from storage.clickhouse.part_sweeper import PartSweeper
from storage.clickhouse.parts import DAMAGE_ERROR_CODES
from storage.clickhouse.reader import ClickHouseReader

log = logging.getLogger("vigil.storage.columnar")
T = TypeVar("T")

DISK_FULL_BYTES = 64 * 1024 * 1024  # health calls the disk full below this much room; the sinks hold below it


class SettingsReader(Protocol):
    """What :class:`GuardedReader` wraps: a reader taking per-read settings and lending its handles."""

    def rows(self, sql: str, params: dict[str, Any] | None = None,
             settings: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one SELECT with extra query ``settings``."""
        ...

    def columns(self, sql: str, params: dict[str, Any] | None = None,
                settings: dict[str, Any] | None = None) -> npt.NDArray[Any]:
        """Run one SELECT with extra query ``settings``; a structured array."""
        ...

    def with_client(self, fn: Callable[[Client], T]) -> T:
        """Run ``fn`` on one of the reader's handles."""
        ...

    def disk_free_bytes(self) -> int | None:
        """Unreserved bytes on the store's fullest disk."""
        ...

    def ping(self) -> None:
        """Raise unless the store answers."""
        ...


class GuardedReader:
    """A :class:`~contracts.reader.TelemetryReader` that never reads a part the guard knows damaged."""

    def __init__(self, inner: SettingsReader, guard: PartGuard) -> None:
        """Wrap ``inner``."""
        self._inner = inner
        self._guard = guard

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one SELECT skipping hidden parts; on a damage-class error scan and retry once."""
        return self._guarded(lambda hiding: self._inner.rows(sql, params, hiding))

    def columns(self, sql: str, params: dict[str, Any] | None = None) -> npt.NDArray[Any]:
        """:meth:`rows` as a numpy structured array."""
        return self._guarded(lambda hiding: self._inner.columns(sql, params, hiding))

    def _guarded(self, read: Callable[[dict[str, Any]], T]) -> T:
        """``read(settings hiding damaged parts)``; on a damage-class error scan and retry once."""
        guard = self._guard
        hiding = guard.read_settings()
        try:
            return read(hiding)
        except DatabaseError as exc:
            if error_code(exc) not in DAMAGE_ERROR_CODES:
                raise
            error = exc
        self._inner.with_client(lambda c: guard.scan(c, str(error)))
        retry = guard.read_settings()
        if retry == hiding:  # no part newly hidden (by the scan or, meanwhile, by the sweeper)
            raise error
        return read(retry)

    def disk_free_bytes(self) -> int | None:
        """Unreserved bytes on the store's fullest disk (None if the store does not say)."""
        return self._inner.disk_free_bytes()

    def ping(self) -> None:
        """Raise unless the store answers."""
        self._inner.ping()


class HoldingInserter(ChunkInserter):
    """A chunk inserter that refuses (retryably) to insert while the guard holds."""

    def __init__(self, connect: Callable[[], Client], protobuf: Callable[[str], dict[str, Any]],
                 guard: PartGuard) -> None:
        """An inserter with the guard's after-commit check."""
        super().__init__(connect, protobuf, after_commit=guard.verify_inserted)
        self._guard = guard

    def insert(self, signal: Signal, payloads: list[bytes], token: str) -> None:
        """Insert unless the disk is too full to write at all (then :class:`StoreUnavailable`)."""
        if self._guard.holding():
            raise StoreUnavailable(HOLD_MESSAGE)
        super().insert(signal, payloads, token)


class ColumnarStore:
    """The opened columnar store: ``reader``, ``make_sink()``, ``start()``/``stop()``, ``health()``."""

    def __init__(self, connect: Callable[[], Client], protobuf: Callable[[str], dict[str, Any]],
                 guard: PartGuard | None, backend: str, sweep_every_s: float = 0.25,
                 links_interval_s: float = 10.0) -> None:
        """Wire the reader, sinks, sweeper (around ``guard``; None: no guard) and span linker."""
        self._connect = connect
        self._protobuf = protobuf
        self.guard = guard
        self.backend = backend
        self._plain = ClickHouseReader(connect)
        self.reader: GuardedReader | ClickHouseReader = (
            GuardedReader(self._plain, guard) if guard is not None else self._plain)
        self._sweeper = PartSweeper(guard, connect, sweep_every_s) if guard is not None else None
        self.linker = Linker(connect, links_interval_s,
                             held=(lambda: guard.checking) if guard is not None else (lambda: False))
        self._started = False

    def make_sink(self) -> ChunkInserter:
        """A chunk sink for one flattener thread (each gets its own handle)."""
        if self.guard is None:
            return ChunkInserter(self._connect, self._protobuf)
        return HoldingInserter(self._connect, self._protobuf, self.guard)

    def start(self) -> None:
        """Start the sweeper and the linker (only when serving: ``vigil migrate`` must not leave a thread in chDB)."""
        if self._started:
            return
        self._started = True
        self.linker.start()
        if self._sweeper is not None:
            self._sweeper.start()

    def stop(self, timeout: float) -> None:
        """Stop the sweeper and linker, start merges again if the guard stopped them (handles stay open)."""
        if self._started:
            self.linker.stop(timeout)
        if self._sweeper is not None and self._started:
            self._sweeper.stop(timeout)
        if self.guard is not None:
            try:
                self._plain.with_client(self.guard.release)
            except Exception as exc:  # noqa: BLE001 - store gone: merges restart with the engine
                log.warning("could not start merges again: %s", str(exc)[:300])

    def health(self) -> dict[str, Any]:
        """The columnar component's health: ping, backend, free disk, part-guard state.

        ``status`` is ``error`` while the disk is (nearly) full or a damaged part is hidden.
        """
        report = timed_check(self.reader.ping)
        report["backend"] = self.backend
        if report["status"] == "ok":
            report.update(self._disk_health())
        if self.guard is not None:
            report.update(part_health(self.guard))
        if self._started:
            report["linker"] = linker_health(self.linker)
        return report

    def _disk_health(self) -> dict[str, Any]:
        try:
            free = self._plain.disk_free_bytes()
        except Exception:  # noqa: BLE001 - the ping just worked; a store without system.disks says nothing
            return {}
        out: dict[str, Any] = {"disk_free_bytes": free}
        if free is not None and free < DISK_FULL_BYTES:
            out.update(status="error",
                       error=f"columnar store disk full ({free} bytes free): data is spooled, not stored")
        return out


def linker_health(linker: Linker) -> dict[str, Any]:
    """The span linker's last round: when it read the store, minutes it computed, seconds it took, error."""
    s = linker.status
    out: dict[str, Any] = {"linked_until_unix": s.linked_until_s, "minutes_linked": s.minutes_linked,
                           "round_seconds": round(s.round_s, 3)}
    if linker.last_error:
        out["last_error"] = linker.last_error
    return out


def part_health(guard: PartGuard) -> dict[str, Any]:
    """The guard's counters; ``status: error`` while a part damaged by a full disk is hidden from reads."""
    s, damaged = guard.stats, guard.damaged_parts()
    out: dict[str, Any] = {"part_checks": "on" if guard.checking else "off",
                           "merges": "stopped" if guard.merges_stopped else "running",
                           "holding": guard.holding(),
                           "parts_checked": s.checked_parts, "damaged_inserts": s.damaged_inserts,
                           "damaged_merges": s.damaged_merges}
    if s.unrepaired:
        out["unrepaired"] = s.unrepaired
    if s.last_error:
        out["last_repair_error"] = s.last_error
    if damaged:
        out.update(status="error", damaged_parts=damaged,
                   error="parts damaged by a full disk are hidden from reads until repaired")
    return out


def open_columnar(dsn: str, part_check_free_bytes: int, cluster: str = "", links_interval_s: float = 10.0
                  ) -> ColumnarStore:
    """The columnar store at ``dsn`` (already migrated), guarded below ``part_check_free_bytes`` free.

    Its span linker (:mod:`storage.clickhouse.linker`) runs a round every ``links_interval_s`` at most.
    No guard when ``part_check_free_bytes`` is 0 or ``cluster`` is set (replicas repair themselves).
    Sinks hold below ``min(64 MiB, part_check_free_bytes / 4)`` free. Nothing is opened until first use.
    """
    embedded = is_embedded(dsn)
    guard = None
    if part_check_free_bytes > 0 and not cluster:
        guard = PartGuard(part_check_free_bytes, hold_below_free_bytes=min(DISK_FULL_BYTES, part_check_free_bytes // 4))
    return ColumnarStore(lambda: connect(dsn), lambda message: protobuf_settings(dsn, message), guard,
                         "chdb" if embedded else "clickhouse", links_interval_s=links_interval_s)

