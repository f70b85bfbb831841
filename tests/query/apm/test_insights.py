"""Insight rules on real chDB with hand-made spans: each rule fires on its pattern with its evidence, and only then."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from query.apm import insights
from query.apm.insights_models import Insight, InsightSettings
from query.apm.window import ApmWindow
from storage.clickhouse.client import connect
from storage.clickhouse.reader import ClickHouseReader
from tests.query.apm.linked import link

NOW = datetime.now(UTC).replace(microsecond=0)
WINDOW = ApmWindow(int((NOW - timedelta(hours=1)).timestamp() * 1e9), int(NOW.timestamp() * 1e9), 60)
COLUMNS = ["Timestamp", "TraceId", "SpanId", "ParentSpanId", "SpanName", "SpanKind", "ServiceName",
           "SpanAttributes", "Duration", "StatusCode"]
SETTINGS = InsightSettings()


@pytest.fixture(scope="module")
def reader(chdb_dsn: str) -> ClickHouseReader:
    return ClickHouseReader(lambda: connect(chdb_dsn))


def request(svc: str, route: str, at: datetime, dur_ms: float, status: int = 200,
            db: list[tuple[str, float]] | None = None) -> list[list[Any]]:
    """One server span and its DB calls (statement, ms), sequential from the request's start."""
    trace, sid = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    rows = [[at, trace, sid, "", f"GET {route}", "Server", svc,
             {"http.request.method": "GET", "http.route": route, "http.response.status_code": str(status)},
             int(dur_ms * 1e6), "Error" if status >= 500 else "Unset"]]
    offset = 0.0
    for stmt, ms in db or []:
        rows.append([at + timedelta(milliseconds=offset + 0.1), trace, uuid.uuid4().hex[:16], sid, "q", "Client", svc,
                     {"db.system.name": "postgresql", "db.query.text": stmt}, int(ms * 1e6), "Unset"])
        offset += ms
    return rows


def at(minutes_ago: float) -> datetime:
    return NOW - timedelta(minutes=minutes_ago)


def run(ch: Client, reader: ClickHouseReader, rows: list[list[Any]], svc: str) -> dict[str, list[Insight]]:
    ch.insert("otel_traces", rows, column_names=COLUMNS)
    link(ch)  # N+1 and DB-dominated findings come from the span linker
    found: dict[str, list[Insight]] = {}
    for i in insights.performance_insights(reader, WINDOW, SETTINGS, service=svc).insights:
        found.setdefault(i.kind, []).append(i)
    return found


def ev(i: Insight) -> dict[str, float]:
    return {e.name: e.value for e in i.evidence}


def test_n_plus_one_counts_repetitions_per_parent(ch: Client, reader: ClickHouseReader) -> None:
    svc = f"ins-n1-{uuid.uuid4().hex[:6]}"
    rows = []
    for i, n in enumerate([3, 5, 7, 9]):  # 3 is below n_plus_one_min (5)
        rows += request(svc, "/orders/{id}", at(30 - i), 20, db=[(f"SELECT * FROM p WHERE id = {k}", 1)
                                                                 for k in range(n)])
    found = run(ch, reader, rows, svc)
    assert list(found) == ["n_plus_one"]
    (n1,) = found["n_plus_one"]
    assert ev(n1) == {"traces_affected": 3, "max_repetitions": 9, "avg_repetitions": 7.0}
    assert n1.endpoints == ["/orders/{id}"] and len(n1.trace_ids) == 3
    assert "SELECT * FROM p WHERE id = ?" in n1.recommendation and n1.severity == "warning"


def test_slow_endpoint_and_db_dominated(ch: Client, reader: ClickHouseReader) -> None:
    svc = f"ins-slow-{uuid.uuid4().hex[:6]}"
    rows = []
    for i in range(12):
        rows += request(svc, "/report", at(40 - i), 800, db=[("SELECT sum(x) FROM events WHERE day > 3", 700)])
        rows += request(svc, "/fast", at(40 - i), 5)
    found = run(ch, reader, rows, svc)
    assert sorted(found) == ["db_dominated", "slow_endpoint"]
    (slow,) = found["slow_endpoint"]
    assert slow.subject == "GET /report" and ev(slow)["p95"] == pytest.approx(800) and ev(slow)["requests"] == 12
    assert len(slow.trace_ids) == 3 and slow.severity == "warning"
    (db,) = found["db_dominated"]
    assert db.subject == "/report" and ev(db)["db_time_share"] == pytest.approx(0.875)
    assert ev(db)["top_statement_time"] == pytest.approx(12 * 700) and "events" in db.recommendation


def test_regression_and_error_spike_vs_previous_window(ch: Client, reader: ClickHouseReader) -> None:
    svc = f"ins-reg-{uuid.uuid4().hex[:6]}"
    rows = []
    for i in range(20):
        rows += request(svc, "/cart", at(90 - i), 100)  # previous window: 100 ms, no errors
        rows += request(svc, "/cart", at(50 - i), 400, status=500 if i < 6 else 200)  # now: 400 ms, 30 % failed
    found = run(ch, reader, rows, svc)
    assert sorted(found) == ["error_spike", "latency_regression"]
    (reg,) = found["latency_regression"]
    assert (ev(reg)["p95"], ev(reg)["previous_p95"]) == (pytest.approx(400), pytest.approx(100))
    (spike,) = found["error_spike"]
    assert ev(spike) == {"error_rate": 0.3, "previous_error_rate": 0.0, "failed_requests": 6, "requests": 20}
    assert spike.severity == "critical" and len(spike.trace_ids) == 3
    assert [i.kind for i in insights.performance_insights(reader, WINDOW, SETTINGS, service=svc).insights] == [
        "error_spike", "latency_regression"]  # most severe first


def test_high_variance_and_nothing_without_evidence(ch: Client, reader: ClickHouseReader) -> None:
    svc = f"ins-var-{uuid.uuid4().hex[:6]}"
    rows = []
    for i in range(30):
        rows += request(svc, "/search", at(30 - i / 2), 300 if i % 10 == 0 else 10)
    found = run(ch, reader, rows, svc)
    assert list(found) == ["high_variance"]
    assert ev(found["high_variance"][0])["p50"] == pytest.approx(10)
    quiet = f"ins-none-{uuid.uuid4().hex[:6]}"
    assert run(ch, reader, [r for i in range(30) for r in request(quiet, "/ok", at(20 - i / 2), 20)], quiet) == {}


def test_saturated_host_findings() -> None:
    from query.apm.insights_hosts import saturated_hosts
    from query.apm.system_models import (
        DiskUtilization,
        HostSystem,
        NetworkThroughput,
        Rate,
        SeriesPoint,
        Utilization,
    )

    def util(values: list[float | None], state: str | None, cls: type = Utilization, **kw: Any) -> Any:
        pts = [SeriesPoint(t=i * 60, value=v) for i, v in enumerate(values)]
        current = next((v for v in reversed(values) if v is not None), None)
        return cls(current=current, state=state, warning_percent=80, critical_percent=90, series=pts, **kw)

    rate = Rate(current=None, series=[])
    host = HostSystem(host="db-1", cpu_count=2, memory_limit_bytes=None, memory_used_bytes=None,
                      cpu=util([0.5, 0.99, 0.95], "critical"), memory=util([0.82, None], "warning"),
                      disk=util([0.1], "ok", DiskUtilization, mountpoint="/"),
                      network=NetworkThroughput(receive=rate, transmit=rate), disk_io=None)
    found = {i.subject: i for i in saturated_hosts([host])}
    assert sorted(found) == ["db-1:cpu", "db-1:memory"]
    assert found["db-1:cpu"].severity == "critical" and ev(found["db-1:cpu"])["peak"] == 0.99
    assert ev(found["db-1:memory"]) == {"current": 0.82, "peak": 0.82, "warning_threshold": 0.8,
                                        "critical_threshold": 0.9}
