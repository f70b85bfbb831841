"""The span linker on real chDB: what each link kind counts, late spans, neighbours, idempotent rounds."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from contracts import links
from storage.clickhouse import linker
from storage.clickhouse.client import connect

COLUMNS = ["Timestamp", "TraceId", "SpanId", "ParentSpanId", "SpanName", "SpanKind", "ServiceName",
           "SpanAttributes", "ResourceAttributes", "Duration", "StatusCode"]
# A whole minute well inside the horizon and long closed.
MINUTE = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=40)


def span(svc: str, trace: str, kind: str, at_s: float, dur_ms: float, parent: str = "", status: str = "Unset",
         **attrs: str) -> tuple[str, list[Any]]:
    sid = uuid.uuid4().hex[:16]
    return sid, [MINUTE + timedelta(seconds=at_s), trace, sid, parent, "op", kind, svc, attrs,
                 {"deployment.environment.name": "test"}, int(dur_ms * 1e6), status]


def db_call(svc: str, trace: str, parent: str, at_s: float, stmt: str = "SELECT * FROM t WHERE id = 1"
            ) -> list[Any]:
    return span(svc, trace, "Client", at_s, 2, parent, **{"db.system.name": "postgresql", "db.query.text": stmt})[1]


def rows(ch: Client, svc: str, kind: str) -> list[tuple[Any, ...]]:
    return ch.query(f"SELECT Target, QueryHash != 0, Calls, Errors, Repeats, RepeatMax.1 FROM {links.TABLE} FINAL "
                    "WHERE Kind = {k:String} AND ServiceName = {s:String} ORDER BY Target",
                    parameters={"k": kind, "s": svc}).result_rows


def link(ch: Client) -> int:
    return linker.link_round(ch, time.time_ns())


def test_runs_split_contiguous_minutes_into_chunks() -> None:
    minutes = [0, 60, 120, 300, 360, 420, 480]
    assert list(linker.runs(minutes, 60)) == [(0, 180), (300, 540)]
    assert list(linker.runs(minutes, 2)) == [(0, 120), (120, 180), (300, 420), (420, 540)]
    assert list(linker.runs([], 60)) == []


def test_db_calls_per_request_endpoint_and_repetitions(ch: Client) -> None:
    svc = f"lk-db-{uuid.uuid4().hex[:6]}"
    trace = uuid.uuid4().hex
    root, server = span(svc, trace, "Server", 50, 20_000, **{"http.route": "/orders/{id}"})
    inner, internal = span(svc, trace, "Internal", 50.5, 1000, root)
    data = [server, internal, *(db_call(svc, trace, inner, 51 + i) for i in range(3)),  # 3× under one parent
            db_call(svc, trace, root, 52, "UPDATE t SET x = 2"),
            db_call(svc, trace, root, 65),  # next minute, inside the request: still this request's
            db_call(svc, uuid.uuid4().hex, "", 55)]  # outside any request: not linked
    ch.insert("otel_traces", data, column_names=COLUMNS)
    link(ch)
    got = rows(ch, svc, "db")
    assert sorted((r[0], r[2]) for r in got) == [("/orders/{id}", 1), ("/orders/{id}", 4)]
    select = next(r for r in got if r[2] == 4)
    assert select[4] == {3: 1, 1: 1} and select[5] == 3  # one group of 3 (inner), one of 1 (root)


def test_late_spans_recompute_their_minute_and_rounds_are_idempotent(ch: Client) -> None:
    svc = f"lk-late-{uuid.uuid4().hex[:6]}"
    trace = uuid.uuid4().hex
    root, server = span(svc, trace, "Server", 58, 5000, **{"http.route": "/late"})
    ch.insert("otel_traces", [server, db_call(svc, trace, root, 58.5)], column_names=COLUMNS)
    link(ch)
    assert [r[2] for r in rows(ch, svc, "db")] == [1]
    assert link(ch) == 0 or [r[2] for r in rows(ch, svc, "db")] == [1]  # nothing new: same figures
    # a DB call of that request stored late, in the next minute: its request's minute is computed again
    ch.insert("otel_traces", [db_call(svc, trace, root, 61)], column_names=COLUMNS)
    assert link(ch) >= 2
    assert [r[2] for r in rows(ch, svc, "db")] == [2]
    counts = dict(ch.query(f"SELECT toUnixTimestamp(Minute), any(Calls) FROM {links.TABLE} FINAL WHERE Kind = 'done' "
                           "AND Minute IN (toDateTime({a:UInt32}), toDateTime({b:UInt32})) GROUP BY Minute",
                           parameters={"a": int(MINUTE.timestamp()), "b": int(MINUTE.timestamp()) + 60}).result_rows)
    stored = dict(ch.query("SELECT toUnixTimestamp(toStartOfMinute(Timestamp)) AS m, count() FROM otel_traces "
                           "WHERE m IN ({a:UInt32}, {b:UInt32}) GROUP BY m",
                           parameters={"a": int(MINUTE.timestamp()), "b": int(MINUTE.timestamp()) + 60}).result_rows)
    assert counts == stored  # the done markers hold what the minutes held when they were read


def test_service_and_external_edges_count_each_span_once(ch: Client) -> None:
    caller, callee = f"lk-a-{uuid.uuid4().hex[:6]}", f"lk-b-{uuid.uuid4().hex[:6]}"
    data = []
    for i in range(3):
        trace = uuid.uuid4().hex
        root, server = span(caller, trace, "Server", 10 + i, 100)
        call, client = span(caller, trace, "Client", 10.1 + i, 80, root, "Error" if i == 0 else "Unset")
        _, child = span(callee, trace, "Server", 10.09 + i, 70, call)  # skew: starts before its caller
        _, ext = span(callee, trace, "Client", 10.2 + i, 30, call, **{"server.address": "api.example"})
        data += [server, client, child, ext, client]  # the client span twice (a retried export)
    ch.insert("otel_traces", data, column_names=COLUMNS)
    link(ch)
    assert [r[:4] for r in rows(ch, caller, "service")] == [(callee, False, 3, 1)]
    assert [r[:4] for r in rows(ch, callee, "external")] == [("api.example", False, 3, 0)]
    assert rows(ch, caller, "external") == []  # its client span has an instrumented callee


def test_linker_thread_reports_its_rounds(chdb_dsn: str) -> None:
    thread = linker.Linker(lambda: connect(chdb_dsn), interval_s=0.2)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while thread.status.linked_until_s == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        thread.stop()
    assert thread.status.linked_until_s >= int(time.time()) - 30 and not thread.last_error


def test_a_held_linker_runs_no_round(chdb_dsn: str) -> None:
    held = [True]
    thread = linker.Linker(lambda: connect(chdb_dsn), interval_s=0.1, held=lambda: held[0])
    thread.start()
    try:
        time.sleep(1.0)  # about ten chances to run, all held (the part guard watches a tight disk)
        assert thread.status.linked_until_s == 0
        held[0] = False
        deadline = time.monotonic() + 30
        while thread.status.linked_until_s == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        thread.stop()
    assert thread.status.linked_until_s > 0  # released: rounds run again
