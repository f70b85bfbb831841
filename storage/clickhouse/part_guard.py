"""Find, hide and repair parts the columnar store committed but never wrote (a disk filling up mid-write).

Observed with chDB 26.9 (embedded ClickHouse): when the filesystem fills up *while* a part is being
written — another process takes the space the store had reserved — an ``INSERT`` or a background merge
can still succeed and commit a part whose files are all empty. Every read touching that part then fails
(``Cannot read all marks … marks read 0``, code 33) and its rows are gone. ``CHECK TABLE … PART`` finds
such parts. It only happens while a disk is nearly full, so the guard only looks while one is. On a full
disk the store can neither drop nor detach a part (both reserve space) but it can attach one, and a
query can skip parts (``additional_table_filters`` on ``_part``); the repair relies on exactly that.

Contract:

* ``watching(client)`` — True while some store disk has less than ``watch_below_free_bytes`` unreserved
  (``system.disks``; chDB and a server alike) and for ``watch_for_s`` after the last time it had; the
  free-space query runs at most every ``probe_every_s`` (``fresh``: now, as after every INSERT).
  ``watch_below_free_bytes = 0`` turns the guard off.
* ``verify_inserted(client, signal)`` — call right after an INSERT of ``signal`` committed and *before*
  the data it came from is released. While watching, every level-0 (inserted) part of the signal's
  tables committed in the last ``recent_s`` seconds and not checked yet is checked. A damaged one is
  hidden from reads at once and dropped when the store can (``DROP PART`` also forgets its
  deduplication entry), and :class:`DamagedPart` (a :class:`StoreUnavailable`) is raised: re-sending the
  same payloads with the same ``insert_deduplication_token`` once the part is gone rewrites exactly the
  dropped parts (the intact tables deduplicate the repeat). Until the part is dropped, a re-sent
  INSERT is deduplicated and this raises again, so nothing is released early.
* ``sweep(client)`` — merged/mutated parts (level > 0) of every table: a damaged one is hidden from reads,
  the parts it was made from — kept on disk as *outdated* for ``old_parts_lifetime``, 480 s by default —
  are hard-linked under ``detached/`` and attached again (``local_files``: embedded chDB, whose part
  paths are this machine's), and the damaged part is detached (quarantined under ``detached/``, never
  deleted) once the store has space. Without ``local_files`` the part is hidden and reported.
  Retries what it could not finish (attach, detach) on every call.
* ``scan(client, error)`` — after a read failed with ``error``: check the part whose file the message
  names and every recent unchecked part (any level); hide the damaged ones and repair merged ones as
  ``sweep`` does (inserted ones are left to ``verify_inserted``); True when it found a new damaged part
  (the read is worth retrying).
* ``read_settings()`` — query settings that make reads skip every part known damaged (``{}`` if none);
  run the read inside ``reading()``.

Replicated tables (``--clickhouse-cluster``) repair themselves from replicas and are not handled here.
Thread-safe: call from several threads, each with its own client.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from contracts.errors import StoreUnavailable
from contracts.signals import Signal
from storage.clickhouse.ddl import METRIC_KINDS

log = logging.getLogger("vigil.storage.part_guard")

SIGNAL_TABLES: dict[str, tuple[str, ...]] = {
    Signal.TRACES: ("otel_traces", "otel_traces_trace_id_ts"),
    Signal.LOGS: ("otel_logs",),
    Signal.METRICS: tuple(f"otel_metrics_{kind}" for kind in METRIC_KINDS),
}
ALL_TABLES: tuple[str, ...] = tuple(t for tables in SIGNAL_TABLES.values() for t in tables)

# Read errors a damaged part causes (worth a scan and one retry): CANNOT_PARSE_INPUT_ASSERTION_FAILED,
# ATTEMPT_TO_READ_AFTER_EOF, CANNOT_READ_ALL_DATA, CHECKSUM_DOESNT_MATCH, CANNOT_OPEN_FILE,
# FILE_DOESNT_EXIST, INCORRECT_DATA, CORRUPTED_DATA, CANNOT_DECOMPRESS, UNKNOWN_CODEC (seen: a merged part
# whose column file held garbage instead of nothing).
DAMAGE_ERROR_CODES = frozenset({27, 32, 33, 40, 76, 107, 117, 246, 271, 432})

# Unreserved bytes on the store's fullest disk (NULL when the store reports no disks).
DISK_FREE_SQL = "SELECT min(unreserved_space) AS free FROM system.disks"

_PART_COLUMNS = "table, name, partition_id, min_block_number, max_block_number, level, data_version, path"


class DamagedPart(StoreUnavailable):
    """An INSERT committed parts the store could not write: re-send the same data (same token) later."""


@dataclass(frozen=True)
class Part:
    table: str
    name: str
    partition_id: str
    min_block: int
    max_block: int
    level: int
    data_version: int
    path: str

    @classmethod
    def of(cls, row: Iterable[Any]) -> Part:
        table, name, partition, low, high, level, version, path = row
        return cls(table, name, partition, int(low), int(high), int(level), int(version), path)

    @property
    def key(self) -> tuple[str, str]:
        return self.table, self.name

    def covers(self, other: Part) -> bool:
        """``other`` is one of the parts this one was merged or mutated from."""
        return (other.partition_id == self.partition_id and self.min_block <= other.min_block
                and other.max_block <= self.max_block and other.name != self.name
                and (other.level, other.data_version) <= (self.level, self.data_version))


@dataclass
class GuardStats:
    checked_parts: int = 0
    damaged_inserts: int = 0  # damaged inserted parts found (their data is re-sent from the spool)
    restored_merges: int = 0  # damaged merged parts whose source parts were attached again
    unrepaired: list[str] = field(default_factory=list)  # "table/part: why" (bounded, newest last)
    last_error: str = ""


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class _SharedExclusive:
    """A readers-writer lock that lets a waiting writer in before new readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._writer = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class PartGuard:
    def __init__(self, watch_below_free_bytes: int, *, watch_for_s: float = 60.0, recent_s: int = 600,
                 probe_every_s: float = 0.5, local_files: bool = False) -> None:
        self.watch_below_free_bytes = watch_below_free_bytes
        self.watch_for_s = watch_for_s
        self.recent_s = recent_s
        self.probe_every_s = probe_every_s
        self.local_files = local_files
        self.stats = GuardStats()
        self._lock = threading.RLock()
        self._repair_lock = threading.Lock()
        self._swap = _SharedExclusive()  # reads vs. swapping a damaged merged part for its sources
        self._probed_at = -1e18
        self._tight_at = -1e18
        self._checked: dict[str, set[str]] = {}
        self._damaged: dict[tuple[str, str], Part] = {}  # hidden from reads until dropped/detached
        self._restored: set[tuple[str, str]] = set()  # damaged merged parts whose sources are staged
        self._to_attach: list[tuple[str, str]] = []  # (table, part under detached/) staged, not attached
        self._quarantined: set[tuple[str, str]] = set()  # damaged merged parts detached (done)

    # ------------------------------------------------------------------ when to look
    def watching(self, client: Client, fresh: bool = False) -> bool:
        if self.watch_below_free_bytes <= 0:
            return False
        now = time.monotonic()
        with self._lock:
            probe = fresh or now - self._probed_at >= self.probe_every_s
            if probe:
                self._probed_at = now
        if probe:
            free = client.query(DISK_FREE_SQL).result_rows[0][0]
            if free is not None and int(free) < self.watch_below_free_bytes:
                with self._lock:
                    self._tight_at = now
        return self.checking

    @property
    def checking(self) -> bool:
        """Whether the guard is on watch as of the last probe (no query; for health)."""
        with self._lock:
            return time.monotonic() - self._tight_at <= self.watch_for_s

    # ------------------------------------------------------------------ reads
    def reading(self) -> contextlib.AbstractContextManager[None]:
        """Hold while running a read with ``read_settings()``: a damaged merged part is swapped for its
        source parts (attach them, then hide it) between reads, so none sees both or neither."""
        return self._swap.shared()

    def read_settings(self) -> dict[str, Any]:
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
        named = client.query(  # the part whose file the failed read names, checked again even if it passed
            f"SELECT {_PART_COLUMNS} FROM system.parts WHERE database = currentDatabase() AND active "
            "AND position({error:String}, path) > 0", parameters={"error": error},
        ).result_rows if error else []
        found = False
        for part in [*map(Part.of, named), *self._unchecked(client, ALL_TABLES, "1")]:
            if part.key not in self._damaged and not self._intact(client, part):
                self._handle_damaged(client, part)
                found = True
        return found

    # ------------------------------------------------------------------ inserts
    def verify_inserted(self, client: Client, signal: Signal) -> None:
        tables = SIGNAL_TABLES[signal]
        with self._lock:
            known = [p for p in self._damaged.values() if p.table in tables and p.level == 0]
        if not known and not self.watching(client, fresh=True):  # the disk may have filled during the INSERT
            return
        new = [p for p in self._unchecked(client, tables, "level = 0") if not self._intact(client, p)]
        for part in new:
            self._handle_damaged(client, part)  # hidden from reads at once
        damaged = known + new
        if not damaged:
            return
        for part in damaged:
            try:
                client.command(f"ALTER TABLE {part.table} DROP PART {quote(part.name)}")
            except Exception as exc:  # noqa: BLE001 - no space to drop it yet: hidden, retried with the data
                log.warning("cannot drop damaged part %s/%s yet: %s", part.table, part.name, str(exc)[:200])
            else:
                self._forget(part)
                log.error("the store committed an empty part %s/%s (disk full while writing it); dropped it, "
                          "its data is re-sent from the spool", part.table, part.name)
        names = ", ".join(f"{p.table}/{p.name}" for p in damaged)
        raise DamagedPart(f"the store committed damaged parts ({names}; disk full while writing?); "
                          "their data is kept in the spool and re-sent")

    # ------------------------------------------------------------------ merges
    def sweep(self, client: Client) -> int:
        """Check merged parts while watching and finish pending repairs; return parts newly damaged."""
        self._attach_staged(client)
        with self._lock:
            unfinished = [p for p in self._damaged.values() if p.level > 0]
        for part in unfinished:  # hidden, not quarantined yet (no space to detach it until now)
            self._repair_merged(client, part)
        found = 0
        if self.watching(client):
            for part in self._unchecked(client, ALL_TABLES, "level > 0"):
                if not self._intact(client, part):
                    self._handle_damaged(client, part)
                    found += 1
        return found

    def _handle_damaged(self, client: Client, part: Part) -> None:
        """An inserted part is hidden (``verify_inserted`` drops it and has its data re-sent); a merged one
        is repaired."""
        if part.level > 0:
            self._repair_merged(client, part)
            return
        with self._lock:
            self._damaged[part.key] = part
            self.stats.damaged_inserts += 1

    def _repair_merged(self, client: Client, broken: Part) -> None:
        with self._repair_lock:  # the sweeper and a reader's scan may find the same part
            with self._lock:
                if broken.key in self._quarantined:
                    return  # repaired meanwhile
            self._repair_merged_locked(client, broken)

    def _repair_merged_locked(self, client: Client, broken: Part) -> None:
        """Attach the source parts again *before* hiding the damaged one (its rows are never readable
        anyway), so a read in between does not miss them; then quarantine it when the store can."""
        where = f"{broken.table}/{broken.name}"
        if broken.key not in self._restored:
            if not self.local_files:
                with self._lock:
                    self._damaged[broken.key] = broken
                self._unrepaired(broken, "damaged merged part hidden from reads; the store's files are not local, "
                                         "restore the parts it was made from by hand")
                return
            sources = self._sources(client, broken)
            if not sources:  # quarantined all the same: it holds nothing readable
                self._unrepaired(broken, "damaged merged part; the parts it was made from are gone (rows lost)")
            detached = Path(broken.path).parent / "detached"
            staged: list[Path] = []
            try:
                for source in sources:
                    staged.append(_hardlink_part(Path(source.path), detached / source.name))
            except OSError as exc:  # hidden meanwhile; checked and handled again on the next sweep
                for folder in staged:
                    _remove_tree(folder)
                with self._lock:
                    self._damaged[broken.key] = broken
                self._note_error(f"{where}: cannot stage its source parts: {exc}")
                return
            with self._lock:
                self._restored.add(broken.key)
                self._to_attach += [(broken.table, s.name) for s in sources]
                self.stats.restored_merges += bool(sources)
            with self._swap.exclusive():
                self._attach_staged(client)
                with self._lock:
                    self._damaged[broken.key] = broken
            log.error("the store committed an empty merged part %s (disk full while merging); attached again the "
                      "%d parts it was made from and hid it from reads", where, len(sources))
        try:  # needs free space in the store: retried on every sweep until it works
            client.command(f"ALTER TABLE {broken.table} DETACH PART {quote(broken.name)}")
        except Exception as exc:  # noqa: BLE001
            self._note_error(f"{where}: cannot quarantine it yet: {exc}")
            return
        self._forget(broken)
        with self._lock:
            self._restored.discard(broken.key)
            self._quarantined.add(broken.key)
        log.warning("damaged part %s quarantined under detached/", where)

    def _sources(self, client: Client, broken: Part) -> list[Part]:
        rows = client.query(
            f"SELECT {_PART_COLUMNS} FROM system.parts WHERE database = currentDatabase() AND table = {{t:String}} "
            "AND NOT active AND partition_id = {p:String} AND min_block_number >= {lo:Int64} "
            "AND max_block_number <= {hi:Int64}",
            parameters={"t": broken.table, "p": broken.partition_id, "lo": broken.min_block, "hi": broken.max_block},
        ).result_rows
        candidates = [p for p in map(Part.of, rows) if broken.covers(p)]
        return [p for p in candidates if not any(q.covers(p) for q in candidates)]

    def _attach_staged(self, client: Client) -> None:
        with self._lock:
            pending, self._to_attach = self._to_attach, []
        for i, (table, name) in enumerate(pending):
            try:
                client.command(f"ALTER TABLE {table} ATTACH PART {quote(name)}")
            except Exception as exc:  # noqa: BLE001 - the next sweep tries again
                with self._lock:
                    self._to_attach = pending[i:] + self._to_attach
                self._note_error(f"attach {table}/{name}: {exc}")
                return

    # ------------------------------------------------------------------ helpers
    @property
    def attach_pending(self) -> int:
        """Restored parts staged under ``detached/`` and not attached yet (their rows are not readable)."""
        with self._lock:
            return len(self._to_attach)

    def damaged_parts(self) -> list[str]:
        with self._lock:
            return sorted(f"{t}/{n}" for t, n in self._damaged)

    def _unchecked(self, client: Client, tables: Iterable[str], level: str) -> list[Part]:
        names = list(tables)
        rows = client.query(
            f"SELECT {_PART_COLUMNS} FROM system.parts WHERE database = currentDatabase() AND active "
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
            log.error("part %s/%s is damaged: %s", part.table, part.name, rows[:1])
        return ok

    def _forget(self, part: Part) -> None:
        with self._lock:
            self._damaged.pop(part.key, None)

    def _unrepaired(self, part: Part, why: str) -> None:
        message = f"{part.table}/{part.name}: {why}"
        with self._lock:
            if message in self.stats.unrepaired:
                return
            self.stats.unrepaired = [*self.stats.unrepaired[-19:], message]
        log.error("%s", message)

    def _note_error(self, message: str) -> None:
        with self._lock:
            self.stats.last_error = message[:300]
        log.warning("%s", message[:500])


def _hardlink_part(source: Path, target: Path) -> Path:
    """Hard-link the files of part directory ``source`` into a new directory ``target`` (no data copied)."""
    if target.exists():  # left by an attempt that failed half-way
        _remove_tree(target)
    target.mkdir(parents=True)
    for entry in os.scandir(source):
        if entry.is_file(follow_symlinks=False):
            os.link(entry.path, target / entry.name)
    return target


def _remove_tree(folder: Path) -> None:
    for entry in os.scandir(folder):
        os.unlink(entry.path)
    folder.rmdir()
