"""The linker: a background thread that keeps ``vigil_links_1m`` (:mod:`contracts.links`) up to date.

Each round (:func:`link_round`):

1. counts the spans per minute of the last ``horizon_days`` (reads only ``Timestamp``);
2. compares them with the counts recorded in the minutes' ``done`` markers; a minute is **dirty** when
   they differ (new minutes, the current minute, spans stored late — a spool replay, a slow exporter)
   or when a minute it links to (one before, :data:`~contracts.links.LAG_S` after) is;
3. computes the dirty minutes again, contiguous runs of at most ``chunk_minutes`` per ``INSERT … SELECT``
   and link kind, then writes their ``done`` markers with the counts read in step 1 (a span stored
   meanwhile makes its minute dirty in the next round);
4. writes a ``tick`` marker with the round's start time: every span stored before it is linked.

The table replaces a recomputed minute's rows, so rounds are idempotent and several servers on one
store may run linkers. The first round on an upgraded store backfills the whole horizon. The thread
(:class:`~storage.clickhouse.background.BackgroundTask`) waits ``interval_s`` between rounds, or ten
times the last round's duration if that is longer (the linker takes at most ~10 % of a core).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from contracts import links
from storage.clickhouse.background import BackgroundTask

log = logging.getLogger("vigil.storage.linker")
NS = 1_000_000_000
# A minute M reads spans of minutes M + k for k in this range (SKEW_S before, LAG_S after).
LINKED_NEIGHBOURS = range(-(links.SKEW_S // 60), links.LAG_S // 60 + 1)


@dataclass
class LinkerStatus:
    """The last round: when it read the store (unix s, 0: none yet), minutes it computed, seconds it took."""

    linked_until_s: int = 0
    minutes_linked: int = 0
    round_s: float = 0.0


def _counts(client: Client, sql: str, params: dict[str, object]) -> dict[int, int]:
    return {int(m): int(n) for m, n in client.query(sql, parameters=params).result_rows}


def dirty_minutes(client: Client, now_s: int, horizon_days: int) -> tuple[list[int], dict[int, int]]:
    """The minutes (unix s, ascending) to compute and every minute's span count now."""
    since = now_s - horizon_days * 86400
    params: dict[str, object] = {"since": since * NS, "since_s": since}
    now = _counts(client, "SELECT toUnixTimestamp(toStartOfMinute(Timestamp)) AS m, count() FROM otel_traces "
                          "WHERE Timestamp >= fromUnixTimestamp64Nano({since:Int64}) GROUP BY m", params)
    done = _counts(client, f"SELECT toUnixTimestamp(Minute) AS m, any(Calls) FROM {links.TABLE} FINAL "
                           "WHERE Kind = 'done' AND Minute >= toDateTime({since_s:UInt32}) GROUP BY m", params)
    changed = {m for m, n in now.items() if done.get(m) != n}
    dirty = {m - 60 * k for m in changed for k in LINKED_NEIGHBOURS} & now.keys()
    return sorted(dirty), now


def runs(minutes: list[int], chunk_minutes: int) -> Iterator[tuple[int, int]]:
    """Contiguous ``[start, end)`` runs (unix s) of sorted ``minutes``, each at most ``chunk_minutes`` long."""
    start = prev = None
    for m in minutes:
        if start is not None and prev is not None and (m != prev + 60 or m - start >= chunk_minutes * 60):
            yield start, prev + 60
            start = None
        start = m if start is None else start
        prev = m
    if start is not None and prev is not None:
        yield start, prev + 60


def compute(client: Client, start_s: int, end_s: int, counts: dict[int, int]) -> None:
    """Compute the minutes ``[start_s, end_s)`` into the table, then mark them done with ``counts``."""
    cols = ", ".join(links.COLUMNS[:-1])
    params = {"la": start_s * NS, "lb": end_s * NS, "lc": (end_s + links.LAG_S) * NS}
    for kind in links.KINDS:
        client.command(f"INSERT INTO {links.TABLE} ({cols}) {links.SELECTS[kind]()}", parameters=params)
    marks = [(m, counts[m]) for m in range(start_s, end_s, 60) if m in counts]
    client.command(links.done_insert(), parameters={"minutes": marks})


def link_round(client: Client, now_ns: int, *, chunk_minutes: int = 60, horizon_days: int = 7,
               stopping: Callable[[], bool] = lambda: False) -> int:
    """One round (see the module doc) as of ``now_ns``; how many minutes it computed."""
    now_s = now_ns // NS
    dirty, counts = dirty_minutes(client, now_s, horizon_days)
    done = 0
    for start, end in runs(dirty, chunk_minutes):
        if stopping():
            return done
        compute(client, start, end, counts)
        done += (end - start) // 60
    client.command(links.tick_insert(), parameters={"at": now_s})
    return done


class Linker(BackgroundTask):
    """The linker thread; not started until :meth:`start` (its first round runs at once)."""

    def __init__(self, connect: Callable[[], Client], interval_s: float = 10.0, chunk_minutes: int = 60,
                 horizon_days: int = 7, held: Callable[[], bool] = lambda: False) -> None:
        """A linker opening its handle with ``connect``, a round every ``interval_s`` seconds at most.

        No round runs while ``held()`` is true (the part guard watches a nearly full disk: the linker's
        writes are not checked part by part like ingest's, so it waits; links go stale meanwhile).
        """
        super().__init__(connect, "vigil-linker", log, first_at_once=True)
        self._held = held
        self._interval = interval_s
        self._chunk = chunk_minutes
        self._horizon = horizon_days
        self.status = LinkerStatus()

    def tick(self, client: Client) -> None:
        """One :func:`link_round` unless held; its figures go to :attr:`status`."""
        if self._held():
            return
        began, now = time.monotonic(), time.time_ns()
        n = link_round(client, now, chunk_minutes=self._chunk, horizon_days=self._horizon, stopping=self.stopping)
        self.status = LinkerStatus(now // NS, n, time.monotonic() - began)

    def pause(self) -> float:
        """``interval_s``, or ten times the last round's duration when longer."""
        return max(self._interval, 10 * self.status.round_s)
