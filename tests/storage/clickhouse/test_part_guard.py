"""storage.clickhouse.part_guard against the session's embedded chDB.

A full disk makes chDB commit parts whose files are all empty (reproduced on a filling tmpfs: see
tests/e2e/test_store_outage.py). Here the same damage is made by emptying a committed part's files, so
each repair path runs deterministically: an inserted part is hidden, dropped and rewritten from the
same payloads; a damaged merged part is hidden and reported; reads skip damaged parts; merges stop and
sinks hold while the disk is nearly full.
Each test writes to its own day (its own partition), so no merge mixes its parts with anyone else's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from contracts.errors import RejectedPayload, StoreUnavailable
from contracts.signals import Signal
from storage.clickhouse.client import connect, protobuf_settings
from storage.clickhouse.guarded import ColumnarStore, GuardedReader, open_columnar
from storage.clickhouse.inserter import ChunkInserter
from storage.clickhouse.part_guard import HOLD_MESSAGE, DamagedPart, PartGuard
from storage.clickhouse.reader import ClickHouseReader
from tests.receiver import now_ns, span_request

ALWAYS = 1 << 62  # watch below this much free space: always
DAY_NS = 86_400 * 10**9


class Batch:
    """``requests`` trace requests of ``spans`` spans each, ``days_ago`` days back, one trace per request."""

    def __init__(self, days_ago: int, requests: int = 3, spans: int = 10) -> None:
        self.service = f"guard-{uuid.uuid4().hex[:10]}"
        start = now_ns() - days_ago * DAY_NS
        self.day = dt.datetime.fromtimestamp(start / 1e9, dt.UTC).strftime("%Y%m%d")
        self.trace_ids = [uuid.uuid4().bytes for _ in range(requests)]
        self.payloads = [span_request(*[start + r * 1000 + i for i in range(spans)], service=self.service,
                                      trace_id=t).SerializeToString() for r, t in enumerate(self.trace_ids)]
        self.spans = requests * spans


@pytest.fixture
def client(chdb_dsn: str) -> Client:
    return connect(chdb_dsn)  # not closed: closing an embedded handle closes the shared engine


def inserter(dsn: str, guard: PartGuard | None = None) -> ChunkInserter:
    """A plain inserter, or one with the guard's after-commit check."""
    return ChunkInserter(lambda: connect(dsn), lambda m: protobuf_settings(dsn, m),
                         guard.verify_inserted if guard is not None else None)


def store(dsn: str, guard: PartGuard | None) -> ColumnarStore:
    return ColumnarStore(lambda: connect(dsn), lambda m: protobuf_settings(dsn, m), guard, "chdb")


@pytest.fixture(autouse=True)
def merges_running(ch: Client) -> Iterator[None]:
    """The session's engine is shared: a guard that stopped merges must not leave them stopped."""
    yield
    for table in ("otel_traces", "otel_traces_trace_id_ts"):
        ch.command(f"SYSTEM START MERGES {table}")


def active_parts(ch: Client, table: str, day: str) -> list[tuple[str, str, int]]:
    """(name, path, level) of the active parts of ``table`` in partition ``day``."""
    rows = ch.query("SELECT name, path, level FROM system.parts WHERE database = currentDatabase() AND active "
                    "AND table = {t:String} AND partition_id = {p:String} ORDER BY name",
                    parameters={"t": table, "p": day}).result_rows
    return [(r[0], r[1], int(r[2])) for r in rows]


def empty_files(part_path: str) -> None:
    """What the store leaves when the disk fills up while it writes a part: every file empty."""
    for entry in os.scandir(part_path):
        if entry.is_file():
            Path(entry.path).write_bytes(b"")


def spans_of(ch: Client, service: str, settings: dict[str, str] | None = None) -> int:
    return int(ch.query("SELECT count() FROM otel_traces WHERE ServiceName = {s:String}",
                        parameters={"s": service}, settings=settings or {}).result_rows[0][0])


def trace_rows(ch: Client, trace_id: bytes) -> int:
    return int(ch.query("SELECT count() FROM otel_traces_trace_id_ts WHERE TraceId = {t:String}",
                        parameters={"t": trace_id.hex()}).result_rows[0][0])


@pytest.fixture
def cleanup(ch: Client) -> Iterator[list[tuple[str, str]]]:
    """(table, part) pairs to drop after the test, so a damaged part never outlives it."""
    parts: list[tuple[str, str]] = []
    yield parts
    for table, name in parts:
        with contextlib.suppress(DatabaseError):  # already gone
            ch.command(f"ALTER TABLE {table} DROP PART '{name}'")


def test_a_damaged_insert_is_hidden_dropped_and_rewritten_exactly(chdb_dsn: str, ch: Client, client: Client,
                                                                   cleanup: list[tuple[str, str]]) -> None:
    guard = PartGuard(ALWAYS)
    batch, token = Batch(days_ago=21), f"guard-test:{uuid.uuid4().hex}"
    inserter(chdb_dsn).insert(Signal.TRACES, batch.payloads, token)
    assert spans_of(ch, batch.service) == batch.spans and trace_rows(ch, batch.trace_ids[0]) == 1
    [(name, path, _)] = active_parts(ch, "otel_traces", batch.day)
    cleanup.append(("otel_traces", name))
    empty_files(path)  # the INSERT "succeeded", its part holds nothing

    with pytest.raises(DamagedPart, match=name):
        guard.verify_inserted(client, Signal.TRACES)
    assert active_parts(ch, "otel_traces", batch.day) == [] and guard.damaged_parts() == []
    assert guard.stats.damaged_inserts == 1

    # the flattener re-sends the same chunk with the same token: the dropped part is written again, the
    # trace-id table (intact) deduplicates the repeat
    inserter(chdb_dsn, guard).insert(Signal.TRACES, batch.payloads, token)
    assert spans_of(ch, batch.service) == batch.spans
    assert all(trace_rows(ch, t) == 1 for t in batch.trace_ids)
    cleanup.extend(("otel_traces", n) for n, _, _ in active_parts(ch, "otel_traces", batch.day))


def test_reads_skip_a_damaged_part_and_name_it_in_health(chdb_dsn: str, ch: Client, client: Client,
                                                         cleanup: list[tuple[str, str]]) -> None:
    guard = PartGuard(ALWAYS)
    damaged, intact = Batch(days_ago=22), Batch(days_ago=24)
    inserter(chdb_dsn).insert(Signal.TRACES, damaged.payloads, f"guard-test:{uuid.uuid4().hex}")
    inserter(chdb_dsn).insert(Signal.TRACES, intact.payloads, f"guard-test:{uuid.uuid4().hex}")
    assert not guard.scan(client)  # every part checked and intact: the damage comes after
    [(name, path, _)] = active_parts(ch, "otel_traces", damaged.day)
    cleanup.append(("otel_traces", name))
    cleanup.extend(("otel_traces", n) for n, _, _ in active_parts(ch, "otel_traces", intact.day))
    empty_files(path)

    sql = "SELECT count() AS n FROM otel_traces WHERE TraceId = {t:String}"
    with pytest.raises(DatabaseError, match="Code: 33"):  # what a read touching the part does unguarded
        ClickHouseReader(lambda: connect(chdb_dsn)).rows(sql, {"t": intact.trace_ids[1].hex()})
    reader = GuardedReader(ClickHouseReader(lambda: connect(chdb_dsn)), guard)
    assert reader.rows(sql, {"t": intact.trace_ids[1].hex()}) == [{"n": 10}]
    assert guard.damaged_parts() == [f"otel_traces/{name}"]
    assert reader.rows(sql, {"t": damaged.trace_ids[0].hex()}) == [{"n": 0}]  # hidden, not failing


def test_a_damaged_merge_is_hidden_and_reported(chdb_dsn: str, ch: Client, client: Client,
                                                 cleanup: list[tuple[str, str]]) -> None:
    """Merges are stopped while watching, so this takes a disk filling faster than one probe; if it
    happens, the part is hidden, health names it, and it is left in place for an operator."""
    batch = Batch(days_ago=23, requests=6)
    for i in range(3):  # three inserted parts…
        inserter(chdb_dsn).insert(Signal.TRACES, batch.payloads[2 * i: 2 * i + 2], f"guard-test:{uuid.uuid4().hex}")
    ch.command(f"OPTIMIZE TABLE otel_traces PARTITION ID '{batch.day}' FINAL")
    [(merged, path, level)] = active_parts(ch, "otel_traces", batch.day)  # …merged into one
    assert level > 0
    cleanup.append(("otel_traces", merged))
    empty_files(path)

    guard = PartGuard(ALWAYS)
    assert guard.sweep(client) == 1
    assert guard.damaged_parts() == [f"otel_traces/{merged}"] and guard.stats.damaged_merges == 1
    assert any(merged in m and "by hand" in m for m in guard.stats.unrepaired)
    assert spans_of(ch, batch.service, guard.read_settings()) == 0
    assert [p[0] for p in active_parts(ch, "otel_traces", batch.day)] == [merged]  # left in place
    assert guard.sweep(client) == 0  # found once
    health = store(chdb_dsn, guard).health()
    assert health["status"] == "error" and health["damaged_parts"] == [f"otel_traces/{merged}"]


def test_the_guard_only_looks_while_a_disk_is_nearly_full(chdb_dsn: str, ch: Client, client: Client,
                                                          cleanup: list[tuple[str, str]]) -> None:
    batch = Batch(days_ago=25)
    inserter(chdb_dsn).insert(Signal.TRACES, batch.payloads, f"guard-test:{uuid.uuid4().hex}")
    [(name, path, _)] = active_parts(ch, "otel_traces", batch.day)
    cleanup.append(("otel_traces", name))
    empty_files(path)
    roomy = PartGuard(1)  # less than one free byte: never
    roomy.verify_inserted(client, Signal.TRACES)
    assert roomy.sweep(client) == 0 and roomy.stats.checked_parts == 0
    assert not PartGuard(0).watching(client)  # 0 turns the guard off
    with pytest.raises(DamagedPart):
        PartGuard(ALWAYS).verify_inserted(client, Signal.TRACES)


class _FailingCheck(PartGuard):
    """A guard whose check query fails the way a read of a damaged part does (code 33)."""

    def verify_inserted(self, client: Client, signal: Signal) -> None:
        raise DatabaseError("Code: 33. DB::Exception: Cannot read all data. (CANNOT_READ_ALL_DATA)")


def test_a_failing_check_is_a_store_problem_not_bad_data(chdb_dsn: str, ch: Client,
                                                         cleanup: list[tuple[str, str]]) -> None:
    """Code 33 from the INSERT itself means bad input (dead letter); from the check afterwards it says
    nothing about the payloads, so the chunk must be retried, never dead-lettered."""
    batch = Batch(days_ago=26)
    with pytest.raises(StoreUnavailable, match="after the INSERT committed") as raised:
        inserter(chdb_dsn, _FailingCheck(ALWAYS)).insert(Signal.TRACES, batch.payloads,
                                                         f"guard-test:{uuid.uuid4().hex}")
    assert not isinstance(raised.value, RejectedPayload)
    cleanup.extend(("otel_traces", n) for n, _, _ in active_parts(ch, "otel_traces", batch.day))


def test_while_a_disk_is_nearly_full_merges_stop_and_sinks_hold(chdb_dsn: str, ch: Client, client: Client,
                                                              cleanup: list[tuple[str, str]]) -> None:
    """Prevention: no merge runs while watching (OPTIMIZE is refused), sinks hold the data below the
    floor; merges run again once the disk has room; health tells."""
    guard = PartGuard(ALWAYS, hold_below_free_bytes=ALWAYS, watch_for_s=0.0)
    columnar = store(chdb_dsn, guard)
    assert guard.watching(client)
    assert guard.merges_stopped and guard.holding()
    batch = Batch(days_ago=27, requests=4)
    with pytest.raises(StoreUnavailable, match=HOLD_MESSAGE):
        columnar.make_sink().insert(Signal.TRACES, batch.payloads, f"guard-test:{uuid.uuid4().hex}")
    assert spans_of(ch, batch.service) == 0  # nothing inserted: the spool keeps it
    for i in range(2):
        inserter(chdb_dsn).insert(Signal.TRACES, batch.payloads[2 * i: 2 * i + 2], f"guard-test:{uuid.uuid4().hex}")
    cleanup.extend(("otel_traces", n) for n, _, _ in active_parts(ch, "otel_traces", batch.day))
    with pytest.raises(DatabaseError, match="ABORTED"):
        ch.command(f"OPTIMIZE TABLE otel_traces PARTITION ID '{batch.day}' FINAL")
    health = columnar.health()
    assert health["merges"] == "stopped" and health["holding"] is True and health["part_checks"] == "on"

    guard.watch_below_free_bytes = guard.hold_below_free_bytes = 1  # room again
    assert not guard.watching(client, fresh=True)
    assert not guard.merges_stopped and not guard.holding()
    ch.command(f"OPTIMIZE TABLE otel_traces PARTITION ID '{batch.day}' FINAL")
    assert [p[2] > 0 for p in active_parts(ch, "otel_traces", batch.day)] == [True]
    cleanup.extend(("otel_traces", n) for n, _, _ in active_parts(ch, "otel_traces", batch.day))


def test_release_starts_merges_the_guard_stopped(chdb_dsn: str, ch: Client, client: Client) -> None:
    guard = PartGuard(ALWAYS)
    columnar = store(chdb_dsn, guard)
    columnar.start()
    guard.watching(client, fresh=True)
    assert guard.merges_stopped
    columnar.stop(5)
    assert not guard.merges_stopped


def test_the_factory_wires_a_guard_only_on_a_single_node(chdb_dsn: str) -> None:
    guarded = open_columnar(chdb_dsn, 1 << 30, "")
    assert isinstance(guarded.reader, GuardedReader) and guarded.guard is not None
    assert guarded.guard.hold_below_free_bytes == 64 << 20
    assert open_columnar(chdb_dsn, 1 << 30, "cluster").guard is None
    plain = open_columnar(chdb_dsn, 0, "")
    assert plain.guard is None and isinstance(plain.reader, ClickHouseReader)
    health = plain.health()
    assert health["status"] in ("ok", "error") and health["backend"] == "chdb" and "part_checks" not in health
    assert plain.reader.rows("SELECT 1 AS x") == [{"x": 1}]
