"""Rollup reads on real chDB: whole minutes from the rollup plus raw edges give exactly the raw-span answer."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from query.apm import requests, rollup
from query.apm.requests_models import ApiSettings
from query.apm.window import ApmWindow
from storage.clickhouse.client import connect
from storage.clickhouse.reader import ClickHouseReader

NS = 1_000_000_000
COLUMNS = ["Timestamp", "TraceId", "SpanId", "ParentSpanId", "SpanName", "SpanKind", "ServiceName",
           "SpanAttributes", "Duration", "StatusCode"]


@pytest.fixture(scope="module")
def reader(chdb_dsn: str) -> ClickHouseReader:
    return ClickHouseReader(lambda: connect(chdb_dsn))


def test_split_edges() -> None:
    m = 60 * NS
    w = ApmWindow(100 * m + 7 * NS, 200 * m + 3 * NS, 60)
    assert rollup.split(w) == rollup.Split((100 * 60, 201 * 60), ())  # widened to whole minutes
    assert rollup.split(ApmWindow(100 * m, 200 * m - 1, 60)) == rollup.Split((100 * 60, 200 * 60), ())
    assert rollup.split(ApmWindow(100 * m, 200 * m, 60)) == rollup.Split((100 * 60, 201 * 60), ())
    assert rollup.split(ApmWindow(100 * m, 105 * m, 60)).minutes is None  # shorter than MIN_ROLLUP_S
    assert rollup.split(ApmWindow(100 * m, 200 * m, 15)).minutes is None  # sub-minute buckets


def test_apdex_from_histogram() -> None:
    hist = {int(4 * __import__("math").log2(ms * 1e6)): 1 for ms in (10, 100, 400, 1000, 5000)}
    # T = 500 ms: satisfied 10, 100, 400; tolerating 1000; frustrated 5000 → (3 + 0.5) / 5
    assert rollup.apdex(hist, 500e6) == pytest.approx(0.7, abs=0.02)
    assert rollup.apdex({}, 500e6) == 1.0


Truth = list[tuple[datetime, int, int]]


def rows(svc: str, start: datetime, n: int, rnd: random.Random) -> tuple[list[list[Any]], Truth]:
    out, truth = [], []
    for i in range(n):
        ts = start + timedelta(seconds=rnd.uniform(0, 5400))
        status = rnd.choice([200, 200, 200, 404, 500])
        dur = int(rnd.expovariate(1 / 50) * 1e6) + 1
        out.append([ts, uuid.uuid4().hex, uuid.uuid4().hex[:16], "", "GET /r", "Server", svc,
                    {"http.route": f"/r{i % 3}", "http.request.method": "GET",
                     "http.response.status_code": str(status)},
                    dur, "Unset"])
        truth.append((ts, status, dur))
    return out, truth


def test_rollup_answer_equals_raw_counts_of_the_widened_window(ch: Client, reader: ClickHouseReader) -> None:
    svc = f"rollup-q-{uuid.uuid4().hex[:6]}"
    rnd = random.Random(3)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    batch, truth = rows(svc, start, 3000, rnd)
    ch.insert("otel_traces", batch, column_names=COLUMNS)
    w_start = start + timedelta(minutes=10, seconds=17.5)
    w_end = start + timedelta(minutes=80, seconds=41.25)
    window = ApmWindow(int(w_start.timestamp() * NS), int(w_end.timestamp() * NS), 300)
    assert rollup.split(window).minutes is not None and rollup.split(window).raw == ()
    # the window is widened to the minutes holding its ends
    lo = w_start.replace(second=0, microsecond=0)
    hi = w_end.replace(second=0, microsecond=0) + timedelta(minutes=1)
    inside = [(ts, st, d) for ts, st, d in truth if lo <= ts < hi]
    assert len(inside) > len([1 for ts, _, _ in truth if w_start <= ts <= w_end])
    got = requests.api_metrics(reader, window, ApiSettings(), service=svc)
    assert got.totals.requests == len(inside)
    assert got.totals.errors == sum(1 for _, st, _ in inside if st >= 500)
    assert {s.status: s.requests for s in got.by_status} == {
        str(c): sum(1 for _, st, _ in inside if st == c) for c in (200, 404, 500)}
    assert sum(b.requests for b in got.series) == len(inside)
    durations = sorted(d for _, _, d in inside)
    exact_p95 = durations[int(0.95 * (len(durations) - 1))] / 1e6
    assert got.totals.p95_ms == pytest.approx(exact_p95, rel=0.05)
    exact_apdex = (sum(1 for d in durations if d <= 500e6) + sum(1 for d in durations if 500e6 < d <= 2000e6) / 2)
    assert got.totals.apdex == pytest.approx(exact_apdex / len(durations), abs=0.01)
    top = requests.top_endpoints(reader, window, "requests", 10, service=svc)
    assert sum(e.requests for e in top.endpoints) == len(inside)
    assert sum(e.total_time_ms for e in top.endpoints) == pytest.approx(sum(durations) / 1e6)


def test_raw_windows_bucket_by_their_step_not_the_minute(ch: Client, reader: ClickHouseReader) -> None:
    """A short window starting mid-minute: every request lands in one of its 15 s buckets."""
    svc = f"rollup-raw-{uuid.uuid4().hex[:6]}"
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
    batch = [[minute + timedelta(seconds=40 + i), uuid.uuid4().hex, uuid.uuid4().hex[:16], "", "GET /r", "Server", svc,
              {"http.route": "/r"}, 1_000_000, "Unset"] for i in range(10)]
    ch.insert("otel_traces", batch, column_names=COLUMNS)
    start = minute + timedelta(seconds=37)
    window = ApmWindow(int(start.timestamp() * NS), int((start + timedelta(seconds=100)).timestamp() * NS), 15)
    got = requests.api_metrics(reader, window, ApiSettings(), service=svc)
    assert got.totals.requests == 10
    assert sum(b.requests for b in got.series) == 10
    # minute+40..49 s: the buckets starting at minute+30 s (40–44) and minute+45 s (45–49)
    base = int(minute.timestamp())
    assert {b.t: b.requests for b in got.series if b.requests} == {base + 30: 5, base + 45: 5}
