"""The Prometheus HTTP API (/api/v1) on real chDB: metrics written through the real store, answered as 2.42 does."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2

from contracts.access import Role
from contracts.signals import Signal
from query.api import build_app
from query.auth import required_role
from query.promql_json import format_time, format_value, parse_duration, parse_time
from storage.clickhouse.client import connect, protobuf_settings
from storage.clickhouse.inserter import ChunkInserter
from storage.clickhouse.reader import ClickHouseReader

T0 = (int(time.time()) - 900) // 60 * 60  # seconds, a minute start 15 minutes ago
NS = 1_000_000_000


def _attrs(target: Any, attrs: dict[str, str]) -> None:
    for k, v in attrs.items():
        kv = target.add()
        kv.key, kv.value.string_value = k, v


def _request(service: str) -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    _attrs(rm.resource.attributes, {"service.name": service, "service.namespace": "shop",
                                    "service.instance.id": "pod-1"})
    sm = rm.scope_metrics.add()
    gauge = sm.metrics.add(name="process.memory.usage", unit="By")
    counter = sm.metrics.add(name="http.requests", unit="{requests}")
    counter.sum.is_monotonic = True
    counter.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    for i in range(3):
        g = gauge.gauge.data_points.add(time_unix_nano=(T0 + 60 * i) * NS)
        _attrs(g.attributes, {"pool": "heap"})
        g.as_double = 100.5 + i
        for route, per_min in (("/a", 30), ("/b", 60)):
            c = counter.sum.data_points.add(start_time_unix_nano=(T0 - 60) * NS, time_unix_nano=(T0 + 60 * i) * NS)
            _attrs(c.attributes, {"http.route": route})
            c.as_int = 10 + per_min * i
    return req


@pytest.fixture(scope="module")
def svc(chdb_dsn: str) -> str:
    name = f"promql-api-{uuid.uuid4().hex[:8]}"
    inserter = ChunkInserter(lambda: connect(chdb_dsn), lambda m: protobuf_settings(chdb_dsn, m))
    inserter.insert(Signal.METRICS, [_request(name).SerializeToString()], uuid.uuid4().hex)
    return name


@pytest.fixture(scope="module")
def client(chdb_dsn: str) -> Iterator[TestClient[Any]]:
    reader = ClickHouseReader(lambda: connect(chdb_dsn))
    with TestClient(build_app(reader, lambda: {"status": "ok", "components": {}})) as c:
        yield c


def _ok(resp: Any) -> Any:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["status"] == "success" and set(body) == {"status", "data"}, body
    return body["data"]


def _err(resp: Any, status: int, error_type: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"status", "errorType", "error"} and body["status"] == "error", body
    assert body["errorType"] == error_type, body
    return str(body["error"])


def _labels(svc: str, **more: str) -> dict[str, str]:
    return {"instance": "pod-1", "job": "shop/" + svc, "service_name": svc, **more}


def test_instant_vector_field_for_field(client: TestClient[Any], svc: str) -> None:
    at = T0 + 120.781
    resp = client.get("/api/v1/query", params={"query": f'process_memory_usage_bytes{{service_name="{svc}"}}',
                                                "time": str(at)})
    assert resp.json() == {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": _labels(svc, __name__="process_memory_usage_bytes", pool="heap"),
         "value": [at, "102.5"]}]}}
    assert f"[{T0 + 120}.781," in resp.text  # the timestamp's exact text: seconds and three digits


def test_instant_query_at_rfc3339_and_by_form_post(client: TestClient[Any], svc: str) -> None:
    rfc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + 60))
    data = _ok(client.post("/api/v1/query", data={"query": f'sum(http_requests_total{{service_name="{svc}"}})',
                                                  "time": rfc}))
    assert data == {"resultType": "vector", "result": [{"metric": {}, "value": [T0 + 60, "110"]}]}


def test_range_query_matrix_exact_values_and_times(client: TestClient[Any], svc: str) -> None:
    q = f'http_requests_total{{service_name="{svc}"}} / 3'
    data = _ok(client.get("/api/v1/query_range", params={"query": q, "start": str(T0), "end": str(T0 + 180),
                                                         "step": "1m"}))
    assert data["resultType"] == "matrix"
    assert data["result"] == [
        {"metric": _labels(svc, http_route="/a"),
         "values": [[T0, "3.3333333333333335"], [T0 + 60, "13.333333333333334"], [T0 + 120, "23.333333333333332"],
                    [T0 + 180, "23.333333333333332"]]},  # the last step looks back 5m
        {"metric": _labels(svc, http_route="/b"),
         "values": [[T0, "3.3333333333333335"], [T0 + 60, "23.333333333333332"], [T0 + 120, "43.333333333333336"],
                    [T0 + 180, "43.333333333333336"]]}]
    rate = _ok(client.post("/api/v1/query_range", data={
        "query": f'sum(rate(http_requests_total{{service_name="{svc}", http_route="/b"}}[2m]))',
        "start": str(T0 + 120), "end": str(T0 + 150), "step": "30"}))
    assert rate["result"] == [{"metric": {}, "values": [[T0 + 120, "1"], [T0 + 150, "1"]]}]


def test_scalar_and_string(client: TestClient[Any]) -> None:
    assert _ok(client.get("/api/v1/query", params={"query": "1+1", "time": "1435781451.781"})) == {
        "resultType": "scalar", "result": [1435781451.781, "2"]}
    assert _ok(client.get("/api/v1/query", params={"query": '"a"', "time": "100"})) == {
        "resultType": "string", "result": [100, "a"]}
    assert _ok(client.get("/api/v1/query", params={"query": "-1/0", "time": "1"}))["result"] == [1, "-Inf"]
    scalar_range = _ok(client.get("/api/v1/query_range", params={"query": "time()", "start": "0", "end": "1",
                                                                 "step": "0.5"}))
    assert scalar_range == {"resultType": "matrix", "result": [
        {"metric": {}, "values": [[0, "0"], [0.5, "0.5"], [1, "1"]]}]}


def test_instant_range_selector_is_a_matrix(client: TestClient[Any], svc: str) -> None:
    q = f'process_memory_usage_bytes{{service_name="{svc}"}}[90s]'
    data = _ok(client.get("/api/v1/query", params={"query": q, "time": str(T0 + 120)}))
    assert data["resultType"] == "matrix"
    assert [r["values"] for r in data["result"]] == [[[T0 + 60, "101.5"], [T0 + 120, "102.5"]]]


def test_series_labels_and_label_values(client: TestClient[Any], svc: str) -> None:
    sel = f'http_requests_total{{service_name="{svc}"}}'
    series = _ok(client.get("/api/v1/series", params={"match[]": sel, "start": str(T0), "end": str(T0 + 180)}))
    assert series == [_labels(svc, __name__="http_requests_total", http_route=r) for r in ("/a", "/b")]
    both = _ok(client.post("/api/v1/series", data={"match[]": [sel, f'{{__name__="process_memory_usage_bytes", '
                                                                     f'service_name="{svc}"}}']}))
    assert [s["__name__"] for s in both] == ["http_requests_total", "http_requests_total",
                                             "process_memory_usage_bytes"]
    names = _ok(client.get("/api/v1/labels", params={"match[]": sel}))
    assert names == ["__name__", "http_route", "instance", "job", "service_name"]
    svc_sel = f'{{service_name="{svc}"}}'
    assert _ok(client.post("/api/v1/labels", data={"match[]": svc_sel})) == [
        "__name__", "http_route", "instance", "job", "pool", "service_name"]
    assert _ok(client.get("/api/v1/label/http_route/values", params={"match[]": svc_sel})) == ["/a", "/b"]
    assert _ok(client.get("/api/v1/label/__name__/values", params={"match[]": svc_sel})) == [
        "http_requests_total", "process_memory_usage_bytes", "target_info"]  # the resource's info series
    assert _ok(client.get("/api/v1/label/nope/values", params={"match[]": svc_sel})) == []


def test_bad_query_and_missing_query(client: TestClient[Any]) -> None:
    assert _err(client.get("/api/v1/query", params={"query": "sum(", "time": "1"}), 400, "bad_data").startswith(
        'invalid parameter "query": ')
    missing = _err(client.get("/api/v1/query"), 400, "bad_data")
    assert missing.startswith('invalid parameter "query": ') and "no expression found in input" in missing


def test_parameter_errors_are_worded_like_prometheus(client: TestClient[Any]) -> None:
    def range_err(**p: str) -> str:
        return _err(client.get("/api/v1/query_range", params={"query": "1", **p}), 400, "bad_data")

    assert _err(client.get("/api/v1/query", params={"query": "1", "time": "x"}), 400, "bad_data") == \
        'invalid parameter "time": cannot parse "x" to a valid timestamp'
    assert range_err(start="x", end="1", step="1") == 'invalid parameter "start": cannot parse "x" to a valid timestamp'
    assert range_err(end="1", step="1") == 'invalid parameter "start": cannot parse "" to a valid timestamp'
    assert range_err(start="10", end="5", step="1") == \
        'invalid parameter "end": end timestamp must not be before start time'
    zero = ('invalid parameter "step": zero or negative query resolution step widths are not accepted. '
            "Try a positive integer")
    assert range_err(start="0", end="5", step="0") == zero
    assert range_err(start="0", end="5", step="-1s") == \
        'invalid parameter "step": cannot parse "-1s" to a valid duration'
    assert range_err(start="0", end="5", step="-2") == zero
    assert range_err(start="0", end="5", step="1e10") == \
        'invalid parameter "step": cannot parse "1e10" to a valid duration. It overflows int64'
    assert range_err(start="0", end="11001", step="1") == (
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
    assert _ok(client.get("/api/v1/query_range", params={"query": "1", "start": "0", "end": "11000", "step": "1"}))
    assert _err(client.get("/api/v1/query", params={"query": "1", "timeout": "soon"}), 400, "bad_data") == \
        'invalid parameter "timeout": cannot parse "soon" to a valid duration'
    assert _err(client.get("/api/v1/series"), 400, "bad_data") == "no match[] parameter provided"
    empty = _err(client.get("/api/v1/series", params={"match[]": '{a=""}'}), 400, "bad_data")
    assert empty.startswith('invalid parameter "match[]": ') and "at least one non-empty matcher" in empty
    assert _err(client.get("/api/v1/labels", params={"end": "y"}), 400, "bad_data") == \
        'invalid parameter "end": cannot parse "y" to a valid timestamp'
    assert _err(client.get("/api/v1/label/1bad/values"), 400, "bad_data") == 'invalid label name: "1bad"'
    assert range_err(query="up[5m]", start="0", end="5", step="1")  # a range vector cannot be a range query


def test_execution_error_is_422(client: TestClient[Any], svc: str) -> None:
    sel = f'http_requests_total{{service_name="{svc}"}}'
    msg = _err(client.get("/api/v1/query", params={"query": f"{sel} + on() {sel}", "time": str(T0 + 120)}),
               422, "execution")
    assert "many-to-many" in msg


def test_timeout_is_503(client: TestClient[Any], svc: str) -> None:
    q = f'sum_over_time(http_requests_total{{service_name="{svc}"}}[1h])'
    assert _err(client.get("/api/v1/query", params={"query": q, "timeout": "0"}), 503, "timeout")


def test_post_under_api_v1_needs_only_viewer() -> None:
    assert required_role("POST", "/api/v1/query") is Role.VIEWER
    assert required_role("POST", "/api/services") is Role.EDITOR


def test_wire_formats() -> None:
    assert [format_value(v) for v in (1.0, 0.1, 1e21, -2.5e-7, math.nan, math.inf, -math.inf)] == [
        "1", "0.1", "1000000000000000000000", "-0.00000025", "NaN", "+Inf", "-Inf"]
    assert [format_time(t) for t in (1435781451781, 1435781451780, 5, 0)] == [
        "1435781451.781", "1435781451.780", "0.005", "0"]
    assert parse_time("1435781451.7814") == 1435781451781
    assert parse_time("2015-07-01T20:10:51.781Z") == 1435781451781
    assert parse_time("2015-07-01T22:10:51.781123456+02:00") == 1435781451781
    assert parse_duration("1h30m") == 5400 and parse_duration("1.5") == 1.5 and parse_duration("250ms") == 0.25


def test_storage_failure_is_a_prometheus_500_without_internals() -> None:
    from contracts.reader import InMemoryReader

    reader = InMemoryReader(fail=RuntimeError("password=hunter2 in some DSN"))
    with TestClient(build_app(reader, lambda: {"status": "ok", "components": {}})) as c:
        assert _err(c.get("/api/v1/series", params={"match[]": "up"}), 500, "internal") == "RuntimeError"


def test_stats_count_queryable_samples_as_2_42(client: TestClient[Any], svc: str) -> None:
    sel = f'http_requests_total{{service_name="{svc}"}}'
    at = T0 + 120
    data = _ok(client.get("/api/v1/query", params={"query": f"rate({sel}[2m])", "time": at, "stats": "all"}))
    assert set(data) == {"resultType", "result", "stats"}
    st = data["stats"]
    assert set(st["timings"]) == {"evalTotalTime", "resultSortTime", "queryPreparationTime", "innerEvalTime",
                                  "execQueueTime", "execTotalTime"}
    # [2m] closed on both ends at T0+120: the 3 samples of each of the 2 series
    assert st["samples"] == {"totalQueryableSamplesPerStep": [[at, 6]], "totalQueryableSamples": 6,
                             "peakSamples": 8}
    data = _ok(client.get("/api/v1/query_range", params={"query": sel, "start": T0, "end": at, "step": 60,
                                                         "stats": "1"}))
    assert data["stats"]["samples"] == {"totalQueryableSamples": 6, "peakSamples": 4}  # 2 series × 3 steps
    assert "stats" not in _ok(client.get("/api/v1/query", params={"query": sel, "time": at}))
