"""Prevent, find, hide and repair parts the columnar store committed but never wrote (a disk filling up).

Observed with chDB 26.9 (embedded ClickHouse): when the filesystem fills up *while* a part is being
written — another process takes the space the store had reserved — an ``INSERT`` or a background merge
can still succeed and commit a part whose files are all empty. Every read touching that part then fails
(``Cannot read all marks … marks read 0``, code 33) and its rows are gone. ``CHECK TABLE … PART`` finds
such parts. It only happens while a disk is nearly full, so the guard only acts while one is. On a full
disk the store can neither drop nor detach a part (both reserve space) but it can attach one, and a
query can skip parts (``additional_table_filters`` on ``_part``). See ``docs/part-guard.md``.

Contract (the reader and the inserter never see the guard: :mod:`storage.clickhouse.guarded` wires it):

* ``watching(client)`` — True while some store disk has less than ``watch_below_free_bytes`` unreserved
  (``system.disks``) and for ``watch_for_s`` after the last time it had; the free-space query runs at most
  every ``probe_every_s`` (``fresh``: now). ``watch_below_free_bytes = 0`` turns the guard off. Every probe
  also steers merges: ``SYSTEM STOP MERGES`` on the otel tables when watching starts, ``SYSTEM START
  MERGES`` when it ends (``stop_merges``), so no merge writes to a nearly full disk.
* ``holding()`` — True while the last probe (at most ``hold_fresh_s`` old) found less than
  ``hold_below_free_bytes`` unreserved: the sink then keeps the data in the spool instead of inserting.
* ``verify_inserted(client, signal)`` — the after-commit hook: call right after an INSERT of ``signal``
  committed and *before* the data it came from is released. While watching, every level-0 part of the
  signal's tables committed in the last ``recent_s`` seconds and not checked yet is checked. A damaged one
  is hidden from reads at once and dropped when the store can (``DROP PART`` also forgets its
  deduplication entry), and :class:`DamagedPart` (a :class:`StoreUnavailable`) is raised: re-sending the
  same payloads with the same ``insert_deduplication_token`` once the part is gone rewrites exactly the
  dropped parts. Until the part is dropped, a re-sent INSERT is deduplicated and this raises again.
* ``sweep(client)`` — merged parts (level > 0) while watching: a damaged one is hidden from reads and
  reported as unrepaired (health: ``damaged_parts``, ``unrepaired``). Merges are stopped while watching,
  so this only happens when a disk went from above the threshold to full faster than one probe
  (``docs/part-guard.md``); the parts it was made from stay on disk as *outdated* for
  ``old_parts_lifetime`` (480 s) for an operator to attach again.
* ``scan(client, error)`` — after a read failed with ``error``: check the part the message names and
  every recent unchecked part; handle damaged ones as above; True when it found a new damaged part.
* ``read_settings()`` — settings that make reads skip every part known damaged.
* ``release(client)`` — start merges again if this guard stopped them (on shutdown).

Replicated tables (``clickhouse_cluster``) repair themselves from replicas and are not handled here.
Thread-safe: call from several threads, each with its own client.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from clickhouse_connect.driver.client import Client

from contracts.errors import StoreUnavailable
from contracts.signals import Signal
from storage.clickhouse.parts import (
    ALL_TABLES,
    PART_COLUMNS,
    SIGNAL_TABLES,
    GuardStats,
    Part,
    quote,
)
from storage.clickhouse.reader import DISK_FREE_SQL

log = logging.getLogger("vigil.storage.part_guard")

HOLD_MESSAGE = "columnar disk nearly full: holding data in the spool"


class DamagedPart(StoreUnavailable):
    """An INSERT committed parts the store could not write: re-send the same data (same token) later."""


class PartGuard:
    """The guard's state; see the module docstring for what each method promises."""

    def __init__(self, watch_below_free_bytes: int, *, hold_below_free_bytes: int = 0, watch_for_s: float = 60.0,
                 recent_s: int = 600, probe_every_s: float = 0.5, hold_fresh_s: float = 2.0,
                 stop_merges: bool = True) -> None:
        """A guard acting below ``watch_below_free_bytes`` (0: never)."""
        self.watch_below_free_bytes = watch_below_free_bytes
        self.hold_below_free_bytes = hold_below_free_bytes
        self.watch_for_s = watch_for_s
        self.recent_s = recent_s
        self.probe_every_s = probe_every_s
        self.hold_fresh_s = hold_fresh_s
        self.stop_merges = stop_merges
        self.stats = GuardStats()
        self._lock = threading.RLock()
        self._merge_lock = threading.Lock()
        self._probed_at = -1e18
        self._tight_at = -1e18
        self._tight = False  # the last probe found less than watch_below_free_bytes
        self._free: int | None = None
        self._free_at = -1e18
        self._merges_stopped: bool | None = None  # None: not steered yet (a crashed run may have left them off)
        self._checked: dict[str, set[str]] = {}
        self._damaged: dict[tuple[str, str], Part] = {}  # hidden from reads (inserted ones until dropped)

    # ------------------------------------------------------------------ when to act
    def watching(self, client: Client, fresh: bool = False) -> bool:
        """Probe the free space if due (``fresh``: now), steer merges; whether the guard is on watch."""
        if self.watch_below_free_bytes <= 0:
            return False
        now = time.monotonic()
        with self._lock:
            probe = fresh or now - self._probed_at >= self.probe_every_s
            if probe:
                self._probed_at = now
        if probe:
            value = client.query(DISK_FREE_SQL).result_rows[0][0]
            free = None if value is None else int(value)
            with self._lock:
                self._free, self._free_at = free, time.monotonic()
                self._tight = free is not None and free < self.watch_below_free_bytes
                if self._tight:
                    self._tight_at = now
            self._steer_merges(client)
        return self.checking

    @property
    def checking(self) -> bool:
        """Whether the guard is on watch as of the last probe (no query; for health)."""
        with self._lock:
            return self._tight or time.monotonic() - self._tight_at <= self.watch_for_s

    def holding(self) -> bool:
        """Whether a recent probe found too little room to insert at all (no query)."""
        with self._lock:
            return (self._free is not None and self._free < self.hold_below_free_bytes
                    and time.monotonic() - self._free_at <= self.hold_fresh_s)

    @property
    def merges_stopped(self) -> bool:
        """Whether this guard has merges of the otel tables stopped."""
        with self._lock:
            return bool(self._merges_stopped)

    def _steer_merges(self, client: Client) -> None:
        if not self.stop_merges:
            return
        with self._merge_lock:
            stop = self.checking
            if self._merges_stopped is stop:
                return
            verb = "STOP" if stop else "START"
            for table in ALL_TABLES:
                client.command(f"SYSTEM {verb} MERGES {table}")
            with self._lock:
                self._merges_stopped = stop
                self.stats.merge_stops += stop
        if stop:
            log.warning("a columnar disk has less than %d bytes free: merges stopped", self.watch_below_free_bytes)
        else:
            log.info("merges of the otel tables running")

    def release(self, client: Client) -> None:
        """Start merges again if this guard stopped them (nobody watches once it is gone)."""
        with self._merge_lock:
            if not self._merges_stopped:
                return
            for table in ALL_TABLES:
                client.command(f"SYSTEM START MERGES {table}")
            with self._lock:
                self._merges_stopped = False

    # ------------------------------------------------------------------ reads
    def read_settings(self) -> dict[str, Any]:
        """Query settings that skip every part known damaged (``{}`` when none is)."""
        with self._lock:
            hidden: dict[str, list[str]] = {}
            for table, name in self._damaged:
                hidden.setdefault(table, []).append(name)
        if not hidden:
            return {}
        filters = ", ".join(
            f"{quote(table)}: {quote('_part NOT IN (' + ', '.join(map(quote, sorted(names))) + ')')}"
            for table, names in sorted(hidden.items())
        )
        return {"additional_table_filters": "{" + filters + "}"}

    def scan(self, client: Client, error: str = "") -> bool:
        """Check the part ``error`` names and every recent unchecked part; True when one is newly damaged."""
        named = client.query(  # the part whose file the failed read names, checked again even if it passed
            f"SELECT {PART_COLUMNS} FROM system.parts WHERE database = currentDatabase() AND active "
            "AND position({error:String}, path) > 0", parameters={"error": error},
        ).result_rows if error else []
        found = False
        for part in [*map(Part.of, named), *self._unchecked(client, ALL_TABLES, "1")]:
            if part.key not in self._damaged and not self._intact(client, part):
                self._handle_damaged(part)
                found = True
        return found

    # ------------------------------------------------------------------ inserts
    def verify_inserted(self, client: Client, signal: Signal) -> None:
        """The after-commit hook; raises :class:`DamagedPart` when the INSERT must be sent again."""
        tables = SIGNAL_TABLES[signal]
        with self._lock:
            known = [p for p in self._damaged.values() if p.table in tables and p.level == 0]
        if not known and not self.watching(client, fresh=True):  # the disk may have filled during the INSERT
            return
        new = [p for p in self._unchecked(client, tables, "level = 0") if not self._intact(client, p)]
        for part in new:
            self._handle_damaged(part)  # hidden from reads at once
        damaged = known + new
        if not damaged:
            return
        for part in damaged:
            try:
                client.command(f"ALTER TABLE {part.table} DROP PART {quote(part.name)}")
            except Exception as exc:  # noqa: BLE001 - no space to drop it yet: hidden, retried with the data
                self._note_error(f"cannot drop damaged part {part.where} yet: {exc}")
            else:
                self._forget(part)
                log.error("the store committed an empty part %s (disk full while writing it); dropped it, "
                          "its data is re-sent from the spool", part.where)
        names = ", ".join(p.where for p in damaged)
        raise DamagedPart(f"the store committed damaged parts ({names}; disk full while writing?); "
                          "their data is kept in the spool and re-sent")

    # ------------------------------------------------------------------ merges
    def sweep(self, client: Client) -> int:
        """Check merged parts while watching; return parts newly damaged (hidden and reported)."""
        found = 0
        if self.watching(client):
            for part in self._unchecked(client, ALL_TABLES, "level > 0"):
                if not self._intact(client, part):
                    self._handle_damaged(part)
                    found += 1
        return found

    def _handle_damaged(self, part: Part) -> None:
        """Hide a damaged part; an inserted one is dropped by ``verify_inserted`` (its data is re-sent)."""
        with self._lock:
            if part.key in self._damaged:
                return
            self._damaged[part.key] = part
            if part.level == 0:
                self.stats.damaged_inserts += 1
                return
            self.stats.damaged_merges += 1
        self._unrepaired(part, "damaged merged part (a disk filled up faster than the guard could stop merges) "
                               "hidden from reads; its rows are missing until the parts it was made from are "
                               "attached again by hand (kept as outdated for old_parts_lifetime)")

    # ------------------------------------------------------------------ helpers
    def damaged_parts(self) -> list[str]:
        """``table/part`` of every part hidden from reads."""
        with self._lock:
            return sorted(f"{t}/{n}" for t, n in self._damaged)

    def _unchecked(self, client: Client, tables: Iterable[str], level: str) -> list[Part]:
        names = list(tables)
        rows = client.query(
            f"SELECT {PART_COLUMNS} FROM system.parts WHERE database = currentDatabase() AND active "
            f"AND table IN {{tables:Array(String)}} AND {level} "
            "AND modification_time >= now() - toIntervalSecond({recent:UInt32})",
            parameters={"tables": names, "recent": self.recent_s},
        ).result_rows
        parts = [Part.of(r) for r in rows]
        with self._lock:
            recent: dict[str, set[str]] = {t: set() for t in names}
            for p in parts:
                recent[p.table].add(p.name)
            for t in names:  # forget parts that are gone or old, so the sets stay small
                self._checked[t] = self._checked.get(t, set()) & recent[t]
            return [p for p in parts if p.name not in self._checked[p.table] and p.key not in self._damaged]

    def _intact(self, client: Client, part: Part) -> bool:
        rows = client.query(f"CHECK TABLE {part.table} PART {quote(part.name)} "
                            "SETTINGS check_query_single_value_result = 0").result_rows
        ok = bool(rows) and all(str(r[1]) == "1" for r in rows)
        with self._lock:
            self.stats.checked_parts += 1
            if ok:
                self._checked.setdefault(part.table, set()).add(part.name)
        if not ok:
            log.error("part %s is damaged: %s", part.where, rows[:1])
        return ok

    def _forget(self, part: Part) -> None:
        with self._lock:
            self._damaged.pop(part.key, None)

    def _unrepaired(self, part: Part, why: str) -> None:
        message = f"{part.where}: {why}"
        with self._lock:
            if message in self.stats.unrepaired:
                return
            self.stats.unrepaired = [*self.stats.unrepaired[-19:], message]
        log.error("%s", message)

    def _note_error(self, message: str) -> None:
        with self._lock:
            self.stats.last_error = message[:300]
        log.warning("%s", message[:500])
