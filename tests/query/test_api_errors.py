"""query.api.build_app: JSON error shape and status codes, routing and OpenAPI, over small readers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from contracts.reader import InMemoryReader as Reader
from query.api import build_app
from query.errors import BadRequest, NotFound

TRACE_ID = "5b8efff798038103d269b633813fc60c"


def _health_ok() -> dict[str, Any]:
    return {"status": "ok", "components": {}}


@pytest.fixture
def reader() -> Reader:
    return Reader()


@pytest.fixture
def client(reader: Reader) -> Iterator[TestClient[Any]]:
    with TestClient(build_app(reader, _health_ok)) as c:
        yield c


def _error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error", "detail"}, body
    assert isinstance(body["error"], str) and body["error"]
    return body  # type: ignore[no-any-return]


def test_malformed_trace_id_is_400(client: TestClient[Any], reader: Reader) -> None:
    for bad in ("xyz", TRACE_ID[:-1], TRACE_ID + "0", "g" * 32):
        body = _error(client.get(f"/api/traces/{bad}"), 400)
        assert "32 hex" in body["error"]
    assert reader.calls == []  # refused before touching storage


def test_unknown_trace_is_404(client: TestClient[Any], reader: Reader) -> None:
    reader._rows = []  # no span of that trace
    body = _error(client.get(f"/api/traces/{TRACE_ID.upper()}"), 404)
    assert TRACE_ID in body["error"]  # normalised to lowercase
    assert reader.calls[0][1] == {"tid": TRACE_ID}


def test_reader_bad_request_is_400(client: TestClient[Any], reader: Reader) -> None:
    reader.fail = BadRequest("that filter makes no sense")
    body = _error(client.get("/api/services"), 400)
    assert body == {"error": "that filter makes no sense", "detail": None}


def test_reader_not_found_is_404(client: TestClient[Any], reader: Reader) -> None:
    reader.fail = NotFound("no such thing")
    assert _error(client.get("/api/metrics/names"), 404) == {"error": "no such thing", "detail": None}


def test_unexpected_reader_error_is_500_without_internals(client: TestClient[Any], reader: Reader) -> None:
    reader.fail = RuntimeError("password=hunter2 in some DSN")
    body = _error(client.get("/api/logs"), 500)
    assert body == {"error": "internal error", "detail": "RuntimeError"}


def test_unknown_route_is_404_json(client: TestClient[Any]) -> None:
    for path in ("/api/nope", "/api/traces/a/b", "/api/metrics/unknown"):
        _error(client.get(path), 404)


def test_wrong_method_is_405_json(client: TestClient[Any]) -> None:
    _error(client.post("/api/services", json={}), 405)


def test_invalid_parameter_type_is_400_with_detail(client: TestClient[Any], reader: Reader) -> None:
    body = _error(client.get("/api/traces/", params={"limit": "many"}), 400)
    assert body["error"].startswith("limit: ")
    assert body["detail"] == {"parameter": "limit"}
    assert reader.calls == []


def test_missing_required_parameter_is_400_and_names_it(client: TestClient[Any]) -> None:
    body = _error(client.get("/api/metrics/query"), 400)  # name is required
    # the answer must say which parameter is missing (Litestar puts it in the exception's detail)
    assert "name" in f"{body['error']} {body['detail']}", body


@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    [
        ("/api/services", {"range": "forever"}, "duration"),
        ("/api/services", {"start": "2024-01-01T00:00:00Z", "end": "2023-01-01T00:00:00Z"}, "start"),
        ("/api/services", {"start": "yesterday"}, "start"),
        ("/api/traces/", {"limit": "0"}, "limit"),
        ("/api/traces/", {"status": "purple"}, "status"),
        ("/api/traces/", {"min_duration_ms": "-1"}, "durations"),
        ("/api/traces/", {"attr": "novalue"}, "key:value"),
        ("/api/logs/", {"severity_min": "loud"}, "severity_min"),
        ("/api/logs/", {"trace_id": "abc"}, "32 hex"),
        ("/api/metrics/query", {"name": "m", "agg": "median"}, "agg"),
        ("/api/metrics/query", {"name": "m", "step": "1x"}, "duration"),
    ],
)
def test_bad_query_parameters_are_400(
    client: TestClient[Any], reader: Reader, path: str, params: dict[str, str], fragment: str
) -> None:
    body = _error(client.get(path, params=params), 400)
    assert fragment in body["error"]
    assert reader.calls == []


def test_pure_function_over_canned_rows(client: TestClient[Any], reader: Reader) -> None:
    reader._rows = [  # span figures (raw spans)
        {"service": "checkout", "spans": 10, "errors": 2, "p95": 1234.9},
        {"service": "frontend", "spans": 5, "errors": 0, "p95": 10.0},
    ]
    reader.answers["vigil_red_1m"] = [  # request figures (the RED rollup: the window is an hour)
        {"service": "checkout", "requests": 4, "failed": 1, "p95_requests": 999.5},
        {"service": "frontend", "requests": 1, "failed": 0, "p95_requests": 10.0},
    ]
    resp = client.get("/api/services", params={"start": "1544712660", "end": "2018-12-13T15:51:00Z"})
    assert resp.status_code == 200
    assert resp.json() == {
        "services": [
            {"name": "checkout", "span_count": 10, "error_count": 2, "p95_duration_ns": 1234,
             "request_count": 4, "failed_request_count": 1, "p95_request_ns": 999},
            {"name": "frontend", "span_count": 5, "error_count": 0, "p95_duration_ns": 10,
             "request_count": 1, "failed_request_count": 0, "p95_request_ns": 10},
        ],
        "meta": {"data_complete": False, "ingest_backlog_records": None, "ingest_lag_seconds": None},
    }
    (_, params), _red = reader.calls  # span figures, then request figures
    assert params == {"start_ns": 1544712660 * 10**9, "end_ns": (1544712660 + 3600) * 10**9}


def test_range_parameter_reaches_the_query(client: TestClient[Any], reader: Reader) -> None:
    assert client.get("/api/services", params={"range": "15m"}).status_code == 200
    (_, params), _red = reader.calls
    assert params["end_ns"] - params["start_ns"] == 15 * 60 * 10**9


def test_degraded_health_is_503() -> None:
    app = build_app(Reader(), lambda: {"status": "degraded", "components": {"columnar": {"status": "error"}}})
    with TestClient(app) as c:
        resp = c.get("/api/health")
    assert resp.status_code == 503
    assert resp.json()["status"] == "degraded"


def test_healthy_is_200(client: TestClient[Any]) -> None:
    resp = client.get("/api/health")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"


def test_openapi_schema(client: TestClient[Any]) -> None:
    resp = client.get("/schema/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == "Vigil query API"
    for path in ("/api/traces/{trace_id}", "/api/traces", "/api/logs", "/api/services", "/api/metrics/query",
                 "/api/metrics/names", "/api/health"):
        assert path in doc["paths"], sorted(doc["paths"])
    params = {p["name"] for p in doc["paths"]["/api/traces"]["get"]["parameters"]}
    assert {"service", "start", "end", "range", "attr", "limit"} <= params


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/api/services", {"range": "bogus"}, "range"),
        ("/api/services", {"end": "later"}, "end"),
        ("/api/traces/", {"limit": "0"}, "limit"),
        ("/api/traces/", {"limit": "many"}, "limit"),
        ("/api/traces/", {"status": "purple"}, "status"),
        ("/api/traces/", {"min_duration_ms": "-1"}, "min_duration_ms"),
        ("/api/traces/", {"attr": "novalue"}, "attr"),
        ("/api/logs/", {"severity_min": "loud"}, "severity_min"),
        ("/api/logs/", {"trace_id": "abc"}, "trace_id"),
        ("/api/traces/abc", {}, "trace_id"),
        ("/api/metrics/query", {}, "name"),
        ("/api/metrics/query", {"name": "m", "agg": "median"}, "agg"),
        ("/api/metrics/query", {"name": "m", "step": "1x"}, "step"),
        ("/api/metrics/query", {"name": "m", "step": "1500ms"}, "step"),
        ("/api/metrics/points", {"name": "m", "limit": "100000"}, "limit"),
    ],
)
def test_every_400_names_its_parameter(
    client: TestClient[Any], path: str, params: dict[str, str], parameter: str
) -> None:
    body = _error(client.get(path, params=params), 400)
    assert body["error"].startswith(f"{parameter}: "), body
    assert body["detail"] == {"parameter": parameter}


def test_bad_range_message() -> None:
    with TestClient(build_app(Reader(), _health_ok)) as c:
        body = c.get("/api/services", params={"range": "bogus"}).json()
    assert body["error"] == "range: 'bogus' is not a duration; use e.g. 500ms, 90s, 15m, 1h30m, 7d"


def test_prometheus_durations_are_accepted(client: TestClient[Any], reader: Reader) -> None:
    assert client.get("/api/services", params={"range": "1h30m"}).status_code == 200
    (_, params), _red = reader.calls
    assert params["end_ns"] - params["start_ns"] == 90 * 60 * 10**9
