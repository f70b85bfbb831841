"""Log search filters (attr, q on attributes, severity_max) and /api/logs/volume on real chDB, hand-made records."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from litestar.testing import TestClient

from query import logs
from query.api import build_app
from query.apm.window import ApmWindow
from query.errors import BadRequest
from query.logs_volume import log_volume
from query.timerange import TimeRange
from storage.clickhouse.client import connect
from storage.clickhouse.reader import ClickHouseReader

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = datetime.fromtimestamp((int(NOW.timestamp()) - 1800) // 60 * 60, UTC)
B1, B2, B3 = (int(T0.timestamp()) + 60 * i for i in range(3))
WINDOW = ApmWindow(int((NOW - timedelta(hours=1)).timestamp() * 1e9), int(NOW.timestamp() * 1e9), 60)
TR = WINDOW.range
RUN = uuid.uuid4().hex[:8]
A, B = f"logs-a-{RUN}", f"logs-b-{RUN}"
COLUMNS = ["Timestamp", "ServiceName", "SeverityText", "SeverityNumber", "Body", "LogAttributes",
           "ResourceAttributes"]
# (id, service, bucket offset s, severity number, body, log attributes, resource attributes)
RECORDS: list[tuple[int, str, int, int, str, dict[str, str], dict[str, str]]] = [
    (1, A, 5, 9, "user logged in", {"user.id": "42"}, {"deployment.environment": "prod"}),
    (2, A, 10, 17, "payment failed", {"exception.type": "GatewayError", "exception.message": "Card DECLINED 51"}, {}),
    (3, A, 61, 13, "low stock", {"product": "7"}, {}),
    (4, B, 62, 21, "crash", {}, {"deployment.environment": "staging"}),
    (5, B, 63, 0, "no severity", {}, {}),
    (6, B, 64, 5, "retry declined", {}, {}),
    (7, A, 120, 3, "tick", {}, {}),
    (8, B, 121, 18, "timeout", {"user.id": "42"}, {}),
    (9, B, 122, 10, "started", {}, {}),
]


@pytest.fixture(scope="module")
def reader(ch: Client, chdb_dsn: str) -> ClickHouseReader:
    rows = [[T0 + timedelta(seconds=at), svc, "", sev, body, {**attrs, "rec": str(i)}, {**res, "test.run": RUN}]
            for i, svc, at, sev, body, attrs, res in RECORDS]
    ch.insert("otel_logs", rows, column_names=COLUMNS)
    return ClickHouseReader(lambda: connect(chdb_dsn))


def ids(reader: ClickHouseReader, **filters: Any) -> list[int]:
    attrs = (f"test.run:{RUN}", *filters.pop("attrs", ()))
    got = logs.search_logs(reader, logs.LogQuery(attrs=attrs, **filters), TR)
    return [int(r.attributes["rec"]) for r in got.logs]


def test_attr_matches_log_or_resource_attributes(reader: ClickHouseReader) -> None:
    assert ids(reader, attrs=["user.id:42"]) == [8, 1]
    assert ids(reader, attrs=["deployment.environment:staging"]) == [4]
    assert ids(reader, attrs=["user.id:42", "deployment.environment:prod"]) == [1]
    assert ids(reader, attrs=["user.id:42", "deployment.environment:staging"]) == []
    assert ids(reader, attrs=["user.id:4"]) == []  # equality, not substring


def test_q_matches_body_and_attribute_values_case_insensitively(reader: ClickHouseReader) -> None:
    assert ids(reader, q="declined") == [6, 2]  # 6 by body, 2 by exception.message
    assert ids(reader, q="gatewayERROR") == [2]  # exception.type only
    assert ids(reader, q="user.id") == []  # keys are not searched
    assert ids(reader, q="'); DROP TABLE otel_logs; --") == []  # bound, not spliced


def test_severity_range(reader: ClickHouseReader) -> None:
    assert ids(reader, severity_max="warn") == [9, 7, 6, 5, 3, 1]  # a name is its range's top: WARN is 13-16
    assert ids(reader, severity_max="9") == [7, 6, 5, 1]
    assert ids(reader, severity_min="info", severity_max="17") == [9, 3, 2, 1]
    assert ids(reader, severity_min="error", severity_max="error") == [8, 2]  # 17-20
    assert ids(reader, severity_min="13", severity_max="13") == [3]


@pytest.mark.parametrize(("filters", "parameter"), [
    ({"severity_min": "error", "severity_max": "info"}, "severity_max"),
    ({"severity_min": "18", "severity_max": "17"}, "severity_max"),
    ({"severity_max": "loud"}, "severity_max"), ({"severity_max": "25"}, "severity_max"),
    ({"severity_min": "loud"}, "severity_min"), ({"attrs": ["nocolon"]}, "attr"),
])
def test_bad_filters_name_their_parameter(reader: ClickHouseReader, filters: dict[str, Any], parameter: str) -> None:
    with pytest.raises(BadRequest) as err:
        ids(reader, **filters)
    assert err.value.parameter == parameter


def test_volume_exact_counts(reader: ClickHouseReader) -> None:
    v = log_volume(reader, WINDOW, logs.LogQuery(attrs=(f"test.run:{RUN}",)))
    assert (v.step_s, v.total) == (60, 9)
    buckets = {b.t: [(c.service, c.severity, c.count) for c in b.counts] for b in v.series if b.counts}
    assert buckets == {
        B1: [(A, "INFO", 1), (A, "ERROR", 1)],
        B2: [(A, "WARN", 1), (B, "UNSPECIFIED", 1), (B, "DEBUG", 1), (B, "FATAL", 1)],
        B3: [(A, "TRACE", 1), (B, "INFO", 1), (B, "ERROR", 1)],
    }
    assert [b.t for b in v.series] == WINDOW.bucket_starts_s()
    assert {b.t: b.total for b in v.series if b.total} == {B1: 2, B2: 4, B3: 3}
    assert [(s.service, s.count) for s in v.by_service] == [(B, 5), (A, 4)]
    assert [(s.severity, s.count) for s in v.by_severity] == [
        ("UNSPECIFIED", 1), ("TRACE", 1), ("DEBUG", 1), ("INFO", 2), ("WARN", 1), ("ERROR", 2), ("FATAL", 1)]


def test_volume_applies_the_search_filters(reader: ClickHouseReader) -> None:
    run = (f"test.run:{RUN}",)
    assert log_volume(reader, WINDOW, logs.LogQuery(q="DECLINED", attrs=run)).total == 2
    v = log_volume(reader, WINDOW, logs.LogQuery(service=B, severity_min="error", attrs=run))
    assert [(s.severity, s.count) for s in v.by_severity if s.count] == [("ERROR", 1), ("FATAL", 1)]
    assert log_volume(reader, WINDOW, logs.LogQuery(severity_max="debug", attrs=(*run, "user.id:42"))).total == 0


@pytest.fixture
def client(reader: ClickHouseReader) -> Iterator[TestClient[Any]]:
    with TestClient(build_app(reader, lambda: {"status": "ok", "components": {}})) as c:
        yield c


def test_endpoints_pass_the_filters(client: TestClient[Any]) -> None:
    span = {"start": str(TR.start_ns // 10**9), "end": str(TR.end_ns // 10**9)}
    r = client.get("/api/logs", params=[*span.items(), ("attr", f"test.run:{RUN}"), ("attr", "user.id:42"),
                                         ("severity_max", "error"), ("q", "TIME")])
    assert r.status_code == 200, r.text
    assert [x["attributes"]["rec"] for x in r.json()["logs"]] == ["8"]
    r = client.get("/api/logs/volume", params=[("range", "1h"), ("attr", f"test.run:{RUN}"), ("service", A)])
    assert r.status_code == 200, r.text
    assert "vigil-data-complete" in r.headers and "meta" in r.json()
    assert (r.json()["total"], r.json()["step_s"]) == (4, 60)


@pytest.mark.parametrize(("path", "params", "parameter"), [
    ("/api/logs", {"severity_min": "error", "severity_max": "warn"}, "severity_max"),
    ("/api/logs", {"attr": "x"}, "attr"),
    ("/api/logs/volume", {"range": "2h"}, "range"),
    ("/api/logs/volume", {"severity_max": "x"}, "severity_max"),
    ("/api/logs/volume", {"attr": "x"}, "attr"),
])
def test_bad_parameters_are_400_naming_them(client: TestClient[Any], path: str, params: dict[str, str],
                                            parameter: str) -> None:
    r = client.get(path, params=params)
    assert r.status_code == 400, r.text
    assert r.json()["detail"]["parameter"] == parameter


def test_time_range_type_is_shared() -> None:
    assert isinstance(TR, TimeRange)
