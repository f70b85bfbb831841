"""The official OTLP/JSON example requests (../shared/otlp/examples) posted over OTLP/HTTP and read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.vigil_process import VigilProcess

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "otlp_examples"
TRACE_ID = "5b8efff798038103d269b633813fc60c"
EXAMPLE_TIME = "1544712600"  # 2018-12-13T14:50:00Z, a minute before the examples' timestamps


@pytest.fixture(scope="session")
def posted_examples(vigil: VigilProcess) -> VigilProcess:
    """Post each example once per server (the session server fixture is parametrized)."""
    for name, path in (("trace", "traces"), ("metrics", "metrics"), ("logs", "logs")):
        body = (EXAMPLES / f"{name}.json").read_bytes()
        r = httpx.post(f"{vigil.otlp_http}/v1/{path}", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        assert r.json() in ({}, {"partialSuccess": {}})
    return vigil


def _range() -> dict[str, str]:
    return {"start": EXAMPLE_TIME, "end": "1544713200"}


def test_example_trace(posted_examples: VigilProcess) -> None:
    body = httpx.get(f"{posted_examples.api}/api/traces/{TRACE_ID.upper()}").raise_for_status().json()
    (span,) = body["spans"]
    assert span == {
        "trace_id": TRACE_ID,
        "span_id": "eee19b7ec3c1b174",
        "parent_span_id": "eee19b7ec3c1b173",
        "name": "I'm a server span",
        "kind": "SPAN_KIND_SERVER",
        "service_name": "my.service",
        "start_time_unix_nano": 1544712660000000000,
        "end_time_unix_nano": 1544712661000000000,
        "duration_ns": 1_000_000_000,
        "status_code": "STATUS_CODE_UNSET",
        "status_message": "",
        "trace_state": "",
        "attributes": {"my.span.attr": "some value"},
        "resource_attributes": {"service.name": "my.service"},
        "scope_name": "my.library",
        "events": [],
        "links": [],
    }
    found = httpx.get(f"{posted_examples.api}/api/traces", params={"service": "my.service", **_range()}).json()
    assert [t["trace_id"] for t in found["traces"]] == [TRACE_ID]


def test_example_logs(posted_examples: VigilProcess) -> None:
    logs = httpx.get(f"{posted_examples.api}/api/logs", params={"service": "my.service", **_range()}).json()["logs"]
    (entry,) = logs
    assert entry["time_unix_nano"] == 1544712660300000000
    assert entry["severity_text"] == "Information" and entry["severity_number"] == 10
    assert entry["body"] == "Example log record"
    assert entry["trace_id"] == TRACE_ID and entry["span_id"] == "eee19b7ec3c1b174"
    assert entry["attributes"] == {
        "string.attribute": "some string",
        "boolean.attribute": "true",
        "int.attribute": "10",
        "double.attribute": "637.704",
        "array.attribute": '["many","values"]',
        "map.attribute": '{"some.map.key":"some value"}',
    }


def _example_metrics() -> dict[str, dict[str, Any]]:
    doc = json.loads((EXAMPLES / "metrics.json").read_text())
    return {m["name"]: m for m in doc["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]}


def test_example_metrics(posted_examples: VigilProcess) -> None:
    api = posted_examples.api
    source = _example_metrics()
    names = httpx.get(f"{api}/api/metrics/names", params=_range()).json()["metrics"]
    kinds = {"sum": "sum", "gauge": "gauge", "histogram": "histogram",
             "exponentialHistogram": "exponential_histogram", "summary": "summary"}
    expected = {(n, kinds[next(k for k in m if k in kinds)]) for n, m in source.items()}
    assert {(m["name"], m["type"]) for m in names if "my.service" in m["service_names"]} == expected

    def points(name: str) -> list[dict[str, Any]]:
        return httpx.get(f"{api}/api/metrics/points", params={"name": name, **_range()}).json()["points"]

    for name, m in source.items():
        kind = next(k for k in m if k in kinds)
        (p,) = points(name)
        (dp,) = m[kind]["dataPoints"]
        assert p["time_unix_nano"] == int(dp["timeUnixNano"])
        assert p["attributes"] == {a["key"]: a["value"]["stringValue"] for a in dp.get("attributes", [])}
        if kind in ("sum", "gauge"):
            assert p["value"] == float(dp.get("asDouble", dp.get("asInt", 0)))
        if kind == "histogram":
            assert p["count"] == int(dp["count"]) and p["sum"] == dp["sum"]
            assert p["bucket_counts"] == [int(c) for c in dp["bucketCounts"]]
            assert p["explicit_bounds"] == dp["explicitBounds"]
            assert p["min"] == dp["min"] and p["max"] == dp["max"]
        if kind == "exponentialHistogram":
            assert p["count"] == int(dp["count"]) and p["scale"] == dp["scale"]
            assert p["zero_count"] == int(dp["zeroCount"])
            assert p["positive_offset"] == dp["positive"]["offset"]
            assert p["positive_bucket_counts"] == [int(c) for c in dp["positive"]["bucketCounts"]]
            negative = dp.get("negative", {})
            assert p["negative_offset"] == negative.get("offset", 0)
            assert p["negative_bucket_counts"] == [int(c) for c in negative.get("bucketCounts", [])]
        if kind == "summary":
            assert p["count"] == int(dp["count"]) and p["sum"] == dp["sum"]
            assert p["quantile_values"] == [
                {"quantile": q.get("quantile", 0.0), "value": q["value"]} for q in dp["quantileValues"]
            ]
