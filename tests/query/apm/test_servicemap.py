"""Service map on real chDB with hand-made spans: service, database and external edges and their figures."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from query.apm import servicemap
from query.apm.window import ApmWindow
from storage.clickhouse.client import connect
from storage.clickhouse.reader import ClickHouseReader
from tests.query.apm.linked import link

NOW = datetime.now(UTC).replace(microsecond=0)
WINDOW = ApmWindow(int((NOW - timedelta(hours=1)).timestamp() * 1e9), int(NOW.timestamp() * 1e9), 60)
COLUMNS = ["Timestamp", "TraceId", "SpanId", "ParentSpanId", "SpanName", "SpanKind", "ServiceName",
           "SpanAttributes", "ResourceAttributes", "Duration", "StatusCode"]


@pytest.fixture(scope="module")
def reader(chdb_dsn: str) -> ClickHouseReader:
    return ClickHouseReader(lambda: connect(chdb_dsn))


class Trace:
    """Builds the rows of one trace in one environment."""

    def __init__(self, env: str, at_s: float) -> None:
        self.env, self.at, self.trace, self.rows = env, at_s, uuid.uuid4().hex, []  # type: list[list[Any]]

    def span(self, service: str, kind: str, dur_ms: float, parent: str = "", status: str = "Unset",
             **attrs: str) -> str:
        sid = uuid.uuid4().hex[:16]
        ts = NOW - timedelta(minutes=30) + timedelta(seconds=self.at)
        self.rows.append([ts, self.trace, sid, parent, "op", kind, service, attrs,
                          {"deployment.environment.name": self.env}, int(dur_ms * 1e6), status])
        return sid


def shop(env: str, i: int, fail: bool) -> list[list[Any]]:
    """frontend →(HTTP) checkout → postgres; checkout → api.pay.example (not instrumented)."""
    t = Trace(env, i)
    root = t.span("frontend", "Server", 100, **{"http.route": "/buy", "http.response.status_code": "200"})
    call = t.span("frontend", "Client", 80 + i, root, "Error" if fail else "Unset",
                  **{"http.response.status_code": "502" if fail else "200"})
    srv = t.span("checkout", "Server", 70, call, "Error" if fail else "Unset",
                 **{"http.route": "/checkout", "http.response.status_code": "502" if fail else "200"})
    t.span("checkout", "Client", 5, srv, **{"db.system.name": "postgresql", "db.namespace": "shop",
                                            "db.query.text": "SELECT 1"})
    t.span("checkout", "Client", 30, srv, "Error" if fail else "Unset",
           **{"server.address": "api.pay.example", "http.response.status_code": "500" if fail else "200"})
    t.span("checkout", "Internal", 1, srv)  # same-service child: no edge
    return t.rows


def test_map_nodes_and_edges(ch: Client, reader: ClickHouseReader) -> None:
    env = f"map-{uuid.uuid4().hex[:6]}"
    rows = [r for i in range(10) for r in shop(env, i, fail=i < 2)]
    ch.insert("otel_traces", rows, column_names=COLUMNS)
    linked = link(ch)
    got = servicemap.service_map(reader, WINDOW, environment=env)
    nodes = {n.id: n for n in got.nodes}
    assert list(nodes) == ["service:checkout", "service:frontend", "db:postgresql/shop", "external:api.pay.example"]
    assert (nodes["service:frontend"].requests, nodes["service:frontend"].errors) == (10, 0)
    assert (nodes["service:checkout"].requests, nodes["service:checkout"].errors) == (10, 2)
    assert (nodes["db:postgresql/shop"].requests, nodes["db:postgresql/shop"].kind) == (10, "database")
    assert (nodes["external:api.pay.example"].errors, nodes["external:api.pay.example"].kind) == (2, "external")
    edges = {(e.source, e.target): e for e in got.edges}
    assert set(edges) == {("service:frontend", "service:checkout"), ("service:checkout", "db:postgresql/shop"),
                          ("service:checkout", "external:api.pay.example")}
    fc = edges["service:frontend", "service:checkout"]
    assert (fc.calls, fc.errors, fc.error_rate) == (10, 2, 0.2)
    # the caller's client span times the call: 80..89 ms
    assert 88.0 <= fc.p95_ms <= 89.0
    assert got.linked_until_unix_nano >= linked  # the linker's round that linked these spans


def test_service_filter_keeps_its_edges(ch: Client, reader: ClickHouseReader) -> None:
    env = f"map-{uuid.uuid4().hex[:6]}"
    ch.insert("otel_traces", [r for i in range(3) for r in shop(env, i, fail=False)], column_names=COLUMNS)
    link(ch)
    got = servicemap.service_map(reader, WINDOW, service="frontend", environment=env)
    assert [(e.source, e.target, e.calls) for e in got.edges] == [("service:frontend", "service:checkout", 3)]
    assert [n.id for n in got.nodes] == ["service:checkout", "service:frontend"]
    assert servicemap.service_map(reader, WINDOW, environment=f"{env}-none").nodes == []
