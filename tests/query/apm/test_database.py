"""Database analytics on real chDB with hand-made spans: normalization, hashing, slow-queries figures."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from query.apm import database, semconv
from query.apm.window import ApmWindow
from query.errors import BadRequest
from storage.clickhouse.client import connect
from storage.clickhouse.reader import ClickHouseReader
from tests.query.apm.linked import link

NOW = datetime.now(UTC).replace(microsecond=0)  # inside the retention TTL
WINDOW = ApmWindow(int((NOW - timedelta(hours=1)).timestamp() * 1e9), int(NOW.timestamp() * 1e9), 60)
COLUMNS = ["Timestamp", "TraceId", "SpanId", "ParentSpanId", "SpanName", "SpanKind", "ServiceName",
           "SpanAttributes", "Duration", "StatusCode"]


def span(service: str, trace: str, at_s: float, dur_ms: float, kind: str = "Client", parent: str = "",
         status: str = "Unset", **attrs: str) -> list[Any]:
    ts = NOW - timedelta(minutes=30) + timedelta(seconds=at_s)
    return [ts, trace, uuid.uuid4().hex[:16], parent, "x", kind, service,
            {k.replace("_", ".").replace("returned.rows", "returned_rows"): v for k, v in attrs.items()},
            int(dur_ms * 1e6), status]


@pytest.fixture(scope="module")
def reader(chdb_dsn: str) -> ClickHouseReader:  # noqa: F811
    return ClickHouseReader(lambda: connect(chdb_dsn))


def pg(service: str, trace: str, at_s: float, dur_ms: float, stmt: str, **attrs: str) -> list[Any]:
    return span(service, trace, at_s, dur_ms, db_system_name="postgresql", db_namespace="shop",
                db_query_text=stmt, **attrs)


def test_literals_normalize_to_one_hash(ch: Client, reader: ClickHouseReader) -> None:  # noqa: F811
    svc = f"db-norm-{uuid.uuid4().hex[:6]}"
    same = ["SELECT id FROM products WHERE id = 5", "SELECT id FROM products WHERE id = 17",
            "SELECT id FROM products WHERE id = ?", "SELECT id FROM products WHERE id IN (1, 2, 3)",
            "SELECT id FROM products WHERE id IN (4, 5)", "SELECT  id\n FROM products /* c */ WHERE id = 9"]
    other = ["SELECT id FROM products WHERE id = %s", "SELECT id FROM orders WHERE id = 5",
             "SELECT id FROM products WHERE name = 'a' -- note", "SELECT id FROM products WHERE name = 'b'"]
    ch.insert("otel_traces", [pg(svc, "t1", i, 1, s) for i, s in enumerate(same + other)], column_names=COLUMNS)
    rows = reader.rows(f"SELECT {semconv.DB_STATEMENT} AS s, toString({database.QUERY_HASH}) AS h "
                       "FROM otel_traces WHERE ServiceName = {svc:String}", {"svc": svc})
    hashes = {r["s"]: r["h"] for r in rows}
    # literals, ?-placeholders, whitespace and comments: one hash; IN lists of 2+ items: one hash
    # (a 1-item list stays `(?)`)
    assert len({hashes[s] for s in [*same[:3], same[5]]}) == 1
    assert hashes[same[3]] == hashes[same[4]]
    assert hashes[other[2]] == hashes[other[3]]
    distinct = {hashes[same[0]], hashes[same[3]], hashes[other[0]], hashes[other[1]], hashes[other[2]]}
    assert len(distinct) == 5


def test_slow_queries_figures_examples_and_endpoints(ch: Client, reader: ClickHouseReader) -> None:  # noqa: F811
    svc = f"db-slow-{uuid.uuid4().hex[:6]}"
    spans = []
    for i, dur in enumerate([10.0, 20.0, 300.0]):
        trace = f"tr{i}"
        server = span(svc, trace, i * 10, 1000, kind="Server", http_route="/orders/{id}")
        spans.append(server)
        spans.append(pg(svc, trace, i * 10 + 0.1, dur, f"SELECT * FROM o WHERE id = {i}",
                        db_response_returned_rows="2"))
    spans.append(pg(svc, "tr9", 50, 5, "SELECT 1", ))  # fast: never above the threshold
    spans.append(pg(svc, "tr9", 51, 500, "UPDATE o SET x = 1", ) [:9] + ["Error"])
    ch.insert("otel_traces", spans, column_names=COLUMNS)
    linked = link(ch)  # calling endpoints come from the span linker
    got = database.slow_queries(reader, WINDOW, threshold_ms=100, service=svc)
    assert got.endpoints_linked_until_unix_nano >= linked
    assert [q.statement for q in got.queries] == ["UPDATE o SET x = ?", "SELECT * FROM o WHERE id = ?"]
    upd, sel = got.queries
    assert (upd.executions, upd.errors, upd.rows, upd.endpoints) == (1, 1, None, [])
    assert (sel.executions, sel.errors, sel.rows, sel.max_ms, sel.total_ms) == (3, 0, 6, 300.0, 330.0)
    assert sel.avg_ms == pytest.approx(110.0)
    # examples: the slowest execution of each rollup row (minute × service × operation), slowest first
    assert sel.example_trace_ids[0] == "tr2" and set(sel.example_trace_ids) <= {"tr0", "tr1", "tr2"}
    assert sel.example_trace_ids == sorted(sel.example_trace_ids, key=lambda t: -{"tr0": 10, "tr1": 20, "tr2": 300}[t])
    assert sel.services == [svc] and (sel.db_system, sel.db_namespace) == ("postgresql", "shop")
    assert [(e.service, e.route, e.executions) for e in sel.endpoints] == [(svc, "/orders/{id}", 3)]
    by_count = database.slow_queries(reader, WINDOW, threshold_ms=0, sort="count", limit=1, service=svc)
    assert [q.executions for q in by_count.queries] == [3]


@pytest.mark.parametrize(("kw", "param"), [({"threshold_ms": -1}, "threshold_ms"), ({"sort": "nope"}, "sort"),
                                           ({"limit": 0}, "limit")])
def test_bad_parameters_name_themselves(kw: dict[str, Any], param: str) -> None:
    args: dict[str, Any] = {"threshold_ms": 100.0, "sort": "total", "limit": 20, **kw}
    with pytest.raises(BadRequest) as err:
        database.check_params(args["threshold_ms"], args["sort"], args["limit"])
    assert err.value.parameter == param
