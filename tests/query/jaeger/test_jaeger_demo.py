"""``/jaeger/api/*`` end to end against the ``demo`` fixture, checked against Jaeger's JSON model.

The field/type table is taken from jaegertracing/jaeger ``internal/uimodel/model.go`` (Trace, Span,
Reference, Process, Log, KeyValue, DependencyLink, Operation) and the ``structuredResponse``/
``structuredError`` structs of ``cmd/jaeger/internal/extension/jaegerquery/internal/http_handler.go``.
Counts are compared with Vigil's own ``/api/traces`` answers over the same data.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.demo_fixture import DemoData

SHOP = {"frontend", "checkout", "inventory", "payments"}
NULL = type(None)
# Go JSON model → (field, JSON types); lists hold the element table's objects
ENVELOPE = {"data": (list, NULL), "total": (int,), "limit": (int,), "offset": (int,), "errors": (list, NULL)}
ERROR = {"code": (int,), "msg": (str,)}
TRACE = {"traceID": (str,), "spans": (list,), "processes": (dict,), "warnings": (list, NULL)}
SPAN = {"traceID": (str,), "spanID": (str,), "operationName": (str,), "references": (list,),
        "startTime": (int,), "duration": (int,), "tags": (list,), "logs": (list,), "processID": (str,),
        "warnings": (list, NULL)}
REFERENCE = {"refType": (str,), "traceID": (str,), "spanID": (str,)}
KEY_VALUE = {"key": (str,), "type": (str,), "value": (str, bool, int, float)}
LOG = {"timestamp": (int,), "fields": (list,)}
PROCESS = {"serviceName": (str,), "tags": (list,)}
OPERATION = {"name": (str,), "spanKind": (str,)}
DEPENDENCY = {"parent": (str,), "child": (str,), "callCount": (int,)}
VALUE_TYPES = {"string": str, "bool": bool, "int64": int, "float64": float, "binary": str}


def shape(obj: Any, table: dict[str, tuple[type, ...]]) -> None:
    """``obj`` has exactly the table's fields, each of one of its JSON types (bool is not int)."""
    assert isinstance(obj, dict) and set(obj) == set(table), (sorted(obj), sorted(table))
    for key, types in table.items():
        assert type(obj[key]) in types, (key, obj[key])


def trace_shape(trace: dict[str, Any]) -> None:
    shape(trace, TRACE)
    for process in trace["processes"].values():
        shape(process, PROCESS)
        for kv in process["tags"]:
            key_value_shape(kv)
    for span in trace["spans"]:
        shape(span, SPAN)
        assert span["processID"] in trace["processes"]
        for ref in span["references"]:
            shape(ref, REFERENCE)
            assert ref["refType"] in {"CHILD_OF", "FOLLOWS_FROM"}
        for kv in span["tags"]:
            key_value_shape(kv)
        for log in span["logs"]:
            shape(log, LOG)
            for kv in log["fields"]:
                key_value_shape(kv)


def key_value_shape(kv: dict[str, Any]) -> None:
    shape(kv, KEY_VALUE)
    assert type(kv["value"]) is VALUE_TYPES[kv["type"]], kv


@pytest.fixture(scope="module")
def jc(demo: DemoData) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.vigil.api.rstrip("/"), timeout=60.0) as client:
        yield client


def window(demo: DemoData) -> dict[str, str]:
    """Jaeger's start/end (µs) around the demo run."""
    return {"start": str(int((demo.started_s - 5) * 1e6)), "end": str(int((time.time() + 5) * 1e6))}


def vigil_params(demo: DemoData) -> dict[str, Any]:
    return {"start": str(int(demo.started_s) - 5), "limit": 1000}


def ok(client: httpx.Client, path: str, **params: Any) -> Any:
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["vigil-data-complete"] in {"true", "false"}
    body = r.json()
    shape(body, ENVELOPE)
    return body


def tag(span: dict[str, Any], key: str) -> Any:
    return next((kv["value"] for kv in span["tags"] if kv["key"] == key), None)


def test_services_include_the_shop(jc: httpx.Client) -> None:
    body = ok(jc, "/jaeger/api/services")
    assert set(body["data"]) >= SHOP and body["total"] == len(body["data"])
    assert body["data"] == sorted(body["data"]) and body["errors"] is None
    assert all(type(s) is str for s in body["data"])


def test_operations_legacy_and_with_kinds(jc: httpx.Client) -> None:
    legacy = ok(jc, "/jaeger/api/services/payments/operations")
    assert "POST /charge" in legacy["data"] and legacy["total"] == len(legacy["data"])
    body = ok(jc, "/jaeger/api/operations", service="payments", spanKind="server")
    for op in body["data"]:
        shape(op, OPERATION)
    assert {"name": "POST /charge", "spanKind": "server"} in body["data"]
    assert {op["spanKind"] for op in body["data"]} == {"server"}
    every = ok(jc, "/jaeger/api/operations", service="payments")["data"]
    assert {op["name"] for op in every} == set(legacy["data"])
    assert "client" in {op["spanKind"] for op in every}  # the simulated acme-pay call


def test_checkout_trace_by_id_is_a_tree_over_four_services(jc: httpx.Client, demo: DemoData) -> None:
    found = ok(jc, "/jaeger/api/traces", service="payments", operation="POST /charge", limit=1, **window(demo))
    assert len(found["data"]) == 1
    trace_id = found["data"][0]["traceID"]
    body = ok(jc, f"/jaeger/api/traces/{trace_id}")
    assert len(body["data"]) == 1
    trace = body["data"][0]
    trace_shape(trace)
    assert trace["traceID"] == trace_id
    spans = {s["spanID"]: s for s in trace["spans"]}
    assert {trace["processes"][s["processID"]]["serviceName"] for s in spans.values()} == SHOP
    roots = [s for s in spans.values() if not any(r["refType"] == "CHILD_OF" for r in s["references"])]
    assert len(roots) == 1
    for span in spans.values():
        parents = [r for r in span["references"] if r["refType"] == "CHILD_OF"]
        assert all(r["spanID"] in spans and r["traceID"] == trace_id for r in parents)
        assert tag(span, "span.kind") in {"server", "client", "internal", None}
    for process in trace["processes"].values():
        assert "service.name" not in {t["key"] for t in process["tags"]}
        assert {"key": "service.namespace", "type": "string", "value": "vigil-demo"} in process["tags"]
    # the same spans as Vigil's own trace answer
    mine = jc.get(f"/api/traces/{trace_id}").json()["spans"]
    assert {s["span_id"] for s in mine} == set(spans)


def test_search_finds_what_api_traces_finds(jc: httpx.Client, demo: DemoData) -> None:
    jaeger = ok(jc, "/jaeger/api/traces", service="payments", operation="POST /charge", minDuration="1ms",
                limit=1000, **window(demo))["data"]
    vigil = jc.get("/api/traces/", params={"service": "payments", "name": "POST /charge", "min_duration_ms": 1,
                                           **vigil_params(demo)}).json()["traces"]
    assert jaeger and {t["traceID"] for t in jaeger} == {t["trace_id"] for t in vigil}
    for trace in jaeger:
        trace_shape(trace)
        charges = [s for s in trace["spans"] if s["operationName"] == "POST /charge"]
        assert any(s["duration"] >= 1000 for s in charges)


def test_tag_search_returns_only_failing_charges(jc: httpx.Client, demo: DemoData) -> None:
    tags = json.dumps({"http.response.status_code": "500"})
    jaeger = ok(jc, "/jaeger/api/traces", service="payments", tags=tags, limit=1000, **window(demo))["data"]
    vigil = jc.get("/api/traces/", params={"service": "payments", "attr": "http.response.status_code:500",
                                           **vigil_params(demo)}).json()["traces"]
    failing = 0
    for summary in vigil:
        spans = jc.get(f"/api/traces/{summary['trace_id']}").json()["spans"]
        failing += sum(1 for s in spans if s["service_name"] == "payments"
                       and s["attributes"].get("http.response.status_code") == "500")
    assert failing > 0
    charges = []
    for trace in jaeger:
        services = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
        charges += [s for s in trace["spans"] if services[s["processID"]] == "payments"
                    and tag(s, "http.response.status_code") == "500"]
    assert len(charges) == failing
    for span in charges:
        assert span["operationName"] == "POST /charge"
        assert tag(span, "error") is True and tag(span, "otel.status_code") == "ERROR"
    # the same through Jaeger's logfmt-ish tag= form, and error=true narrows to failing spans
    same = ok(jc, "/jaeger/api/traces", service="payments", tag="http.response.status_code:500", limit=1000,
              **window(demo))["data"]
    assert {t["traceID"] for t in same} == {t["traceID"] for t in jaeger}
    errors = ok(jc, "/jaeger/api/traces", service="payments", operation="POST /charge", tag="error:true",
                limit=1000, **window(demo))["data"]
    assert {t["traceID"] for t in errors} == {t["traceID"] for t in jaeger}


def test_exception_events_become_logs(jc: httpx.Client, demo: DemoData) -> None:
    tags = json.dumps({"http.response.status_code": "500"})
    trace = ok(jc, "/jaeger/api/traces", service="payments", tags=tags, limit=1, **window(demo))["data"][0]
    logs = [log for s in trace["spans"] for log in s["logs"]]
    fields = [{kv["key"]: kv["value"] for kv in log["fields"]} for log in logs]
    assert any(f.get("event") == "exception" and f.get("exception.type", "").endswith("PaymentGatewayError")
               for f in fields), fields
    assert all(log["fields"][0]["key"] == "event" for log in logs)


def _pairs_from_api_traces(jc: httpx.Client, demo: DemoData) -> Counter[tuple[str, str]]:
    """Client→server pairs across services, counted from ``/api/traces`` data (every trace)."""
    pairs: Counter[tuple[str, str]] = Counter()
    for summary in jc.get("/api/traces/", params=vigil_params(demo)).json()["traces"]:
        spans = jc.get(f"/api/traces/{summary['trace_id']}").json()["spans"]
        by_id = {s["span_id"]: s for s in spans}
        for s in spans:
            parent = by_id.get(s["parent_span_id"])
            if (s["kind"] == "SPAN_KIND_SERVER" and parent and parent["kind"] == "SPAN_KIND_CLIENT"
                    and parent["service_name"] != s["service_name"]):
                pairs[(parent["service_name"], s["service_name"])] += 1
    return pairs


def test_dependencies_count_client_server_pairs(jc: httpx.Client, demo: DemoData) -> None:
    now_ms = int(time.time() * 1000) + 5000
    lookback = now_ms - int(demo.started_s * 1000) + 10_000
    body = ok(jc, "/jaeger/api/dependencies", endTs=str(now_ms), lookback=str(lookback))
    for link in body["data"]:
        shape(link, DEPENDENCY)
    got = {(d["parent"], d["child"]): d["callCount"] for d in body["data"]}
    want = _pairs_from_api_traces(jc, demo)
    for edge in (("frontend", "checkout"), ("checkout", "inventory"), ("checkout", "payments")):
        assert want[edge] > 0 and got[edge] == want[edge], edge
    assert {k: v for k, v in got.items() if k[0] in SHOP} == dict(want)
    only = ok(jc, "/jaeger/api/dependencies", endTs=str(now_ms), lookback=str(lookback), service="payments")
    assert {(d["parent"], d["child"]) for d in only["data"]} == {("checkout", "payments")}


@pytest.mark.parametrize(("path", "params", "parameter"), [
    ("/jaeger/api/traces", {"limit": "abc"}, "limit"),
    ("/jaeger/api/traces", {"limit": "0"}, "limit"),
    ("/jaeger/api/traces", {"minDuration": "fast"}, "minDuration"),
    ("/jaeger/api/traces", {"minDuration": "2s", "maxDuration": "1s"}, "maxDuration"),
    ("/jaeger/api/traces", {"start": "yesterday"}, "start"),
    ("/jaeger/api/traces", {"end": "1.5"}, "end"),
    ("/jaeger/api/traces", {"tags": "{not json"}, "tags"),
    ("/jaeger/api/traces", {"tag": "novalue"}, "tag"),
    ("/jaeger/api/traces", {"lookback": "week"}, "lookback"),
    ("/jaeger/api/operations", {}, "service"),
    ("/jaeger/api/operations", {"service": "payments", "spanKind": "sideways"}, "spanKind"),
    ("/jaeger/api/traces/not-hex", {}, "traceID"),
    ("/jaeger/api/dependencies", {"endTs": "now"}, "endTs"),
    ("/jaeger/api/dependencies", {"lookback": "-5"}, "lookback"),
])
def test_bad_parameters_answer_400_in_jaegers_envelope(
    jc: httpx.Client, path: str, params: dict[str, str], parameter: str,
) -> None:
    r = jc.get(path, params=params)
    assert r.status_code == 400, r.text
    body = r.json()
    shape(body, ENVELOPE)
    assert body["data"] is None and len(body["errors"]) == 1
    shape(body["errors"][0], ERROR)
    assert body["errors"][0]["code"] == 400 and parameter in body["errors"][0]["msg"]


def test_unknown_trace_is_404_trace_not_found(jc: httpx.Client) -> None:
    r = jc.get("/jaeger/api/traces/" + "ab" * 16)
    assert r.status_code == 404
    assert r.json() == {"data": None, "total": 0, "limit": 0, "offset": 0,
                        "errors": [{"code": 404, "msg": "trace not found"}]}


def test_documented_in_openapi(jc: httpx.Client) -> None:
    paths = jc.get("/schema/openapi.json").json()["paths"]
    for path in ("/jaeger/api/services", "/jaeger/api/services/{name}/operations", "/jaeger/api/operations",
                 "/jaeger/api/traces", "/jaeger/api/traces/{trace_id}", "/jaeger/api/dependencies"):
        assert path in paths, path


def test_grafanas_requests(jc: httpx.Client, demo: DemoData) -> None:
    """The requests grafana/grafana ``public/app/plugins/datasource/jaeger/datasource.ts`` makes."""
    assert set(ok(jc, "/jaeger/api/services")["data"]) >= SHOP  # testDatasource
    search = ok(jc, "/jaeger/api/traces", service="payments", operation="POST /charge",
                tags='{"http.response.status_code":"201"}', limit="20", lookback="custom", **window(demo))
    assert 0 < len(search["data"]) <= 20
    trace_id = search["data"][0]["traceID"]
    by_id = ok(jc, f"/jaeger/api/traces/{trace_id}", **window(demo))["data"][0]  # TraceIdTimeParams
    charges = [s for s in by_id["spans"] if s["operationName"] == "POST /charge"]
    assert charges and all(tag(s, "http.response.status_code") == "201" for s in charges)
    assert by_id == search["data"][0]


def test_search_by_trace_ids_reports_the_missing(jc: httpx.Client, demo: DemoData) -> None:
    """Jaeger UI's compare view: ``traceID=`` repeated; unknown ids come back in ``errors``."""
    found = ok(jc, "/jaeger/api/traces", service="checkout", limit=2, **window(demo))["data"]
    ids = [t["traceID"] for t in found]
    unknown = "cd" * 16
    r = jc.get("/jaeger/api/traces", params=[("traceID", i) for i in [*ids, unknown]])
    assert r.status_code == 200, r.text
    body = r.json()
    shape(body, ENVELOPE)
    assert len(ids) == 2
    assert [t["traceID"] for t in body["data"]] == ids
    assert body["errors"] == [{"msg": "trace not found", "traceID": unknown}]
