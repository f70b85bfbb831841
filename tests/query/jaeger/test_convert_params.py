"""OTLP → Jaeger mapping (against the translator's tag keys) and Jaeger's parameter parsing, as units.

Tag keys and order: ``pkg/translator/jaeger/traces_to_jaegerproto.go`` (opentelemetry-collector-contrib)
with the current ``otel.scope.*`` keys of jaegertracing/jaeger
``internal/storage/v2/elasticsearch/tracestore/to_dbmodel.go``; parameters: jaeger's ``query_parser.go``.
"""

from __future__ import annotations

import msgspec
import pytest

from query import models as otlp
from query.errors import BadRequest
from query.jaeger import params
from query.jaeger.convert import jaeger_trace_id, to_jaeger

TID = "0af7651916cd43dd8448eb211c80319c"


def span(span_id: str, parent: str = "", **over: object) -> otlp.Span:
    base: dict[str, object] = dict(
        trace_id=TID, span_id=span_id, parent_span_id=parent, name="op", kind="SPAN_KIND_SERVER",
        service_name="svc", start_time_unix_nano=1_700_000_000_123_456_789, end_time_unix_nano=0,
        duration_ns=2_500_999, status_code="STATUS_CODE_UNSET", status_message="", trace_state="",
        attributes={"http.route": "/x"}, resource_attributes={"service.name": "svc", "host.name": "h"},
        scope_name="", events=[], links=[])
    base.update(over)
    return otlp.Span(**base)  # type: ignore[arg-type]


def test_span_fields_tags_and_times() -> None:
    s = span("b7ad6b7169203331", "a" * 16, status_code="STATUS_CODE_ERROR", status_message="boom",
             scope_name="litestar", trace_state="k=v", kind="SPAN_KIND_CLIENT")
    out = msgspec.to_builtins(to_jaeger(otlp.Trace(trace_id=TID, spans=[s])))
    js = out["spans"][0]
    assert js["startTime"] == 1_700_000_000_123_456 and js["duration"] == 2_500
    assert [(t["key"], t["value"]) for t in js["tags"]] == [
        ("otel.scope.name", "litestar"), ("http.route", "/x"), ("span.kind", "client"),
        ("otel.status_code", "ERROR"), ("error", True), ("otel.status_description", "boom"),
        ("w3c.tracestate", "k=v")]
    assert {"key": "error", "type": "bool", "value": True} in js["tags"]
    assert js["references"] == [{"refType": "CHILD_OF", "traceID": TID, "spanID": "a" * 16}]
    assert out["processes"] == {"p1": {"serviceName": "svc", "tags": [{"key": "host.name", "type": "string",
                                                                        "value": "h"}]}}
    assert js["processID"] == "p1" and js["warnings"] is None and "parentSpanID" not in js


def test_unset_status_and_unspecified_kind_add_no_tags() -> None:
    js = to_jaeger(otlp.Trace(trace_id=TID, spans=[span("1" * 16, kind="SPAN_KIND_UNSPECIFIED")])).spans[0]
    assert [t.key for t in js.tags] == ["http.route"]
    ok = to_jaeger(otlp.Trace(trace_id=TID, spans=[span("1" * 16, status_code="STATUS_CODE_OK")])).spans[0]
    assert ("otel.status_code", "OK") in [(t.key, t.value) for t in ok.tags]
    assert "error" not in [t.key for t in ok.tags]


def test_events_links_and_processes() -> None:
    ev = otlp.SpanEvent(time_unix_nano=5_000_999, name="exception", attributes={"exception.type": "E"})
    links = [otlp.SpanLink(trace_id="0" * 16 + "f" * 16, span_id="c" * 16, attributes={}),
             otlp.SpanLink(trace_id=TID, span_id="d" * 16, attributes={"opentracing.ref_type": "child_of"})]
    a = span("1" * 16, events=[ev], links=links)
    b = span("2" * 16, "1" * 16)
    c = span("3" * 16, "1" * 16, service_name="other", resource_attributes={"service.name": "other"})
    trace = to_jaeger(otlp.Trace(trace_id=TID, spans=[a, b, c]))
    first = trace.spans[0]
    assert [(f.key, f.value) for f in first.logs[0].fields] == [("event", "exception"), ("exception.type", "E")]
    assert first.logs[0].timestamp == 5_000
    assert [(r.ref_type, r.trace_id, r.span_id) for r in first.references] == [
        ("FOLLOWS_FROM", "f" * 16, "c" * 16), ("CHILD_OF", TID, "d" * 16)]
    assert [s.process_id for s in trace.spans] == ["p1", "p1", "p2"]
    assert trace.processes["p2"].service_name == "other" and trace.processes["p2"].tags == []


def test_trace_id_spelling() -> None:
    assert jaeger_trace_id("0" * 16 + "1" * 16) == "1" * 16
    assert jaeger_trace_id(TID) == TID
    assert params.parse_trace_id("1" * 16) == "0" * 16 + "1" * 16
    assert params.parse_trace_id(TID.upper()) == TID
    with pytest.raises(BadRequest, match="traceID"):
        params.parse_trace_id("g" * 32)
    with pytest.raises(BadRequest, match="traceID"):
        params.parse_trace_id("1" * 33)


@pytest.mark.parametrize(("text", "ns"), [
    ("1.2s", 1_200_000_000), ("100ms", 100_000_000), ("1h30m", 5_400_000_000_000), ("500us", 500_000),
    ("7µs", 7_000), ("0", 0), ("2d", 172_800_000_000_000), (".5s", 500_000_000), ("3ns", 3),
])
def test_go_durations(text: str, ns: int) -> None:
    assert params.parse_duration_ns(text, "minDuration") == ns


@pytest.mark.parametrize("text", ["", "1", "fast", "1x", "s", "1s2", "-1s", "1 s"])
def test_bad_durations_name_the_parameter(text: str) -> None:
    with pytest.raises(BadRequest, match="^maxDuration: "):
        params.parse_duration_ns(text, "maxDuration")


def test_tags_merge_and_search_defaults() -> None:
    assert params.parse_tags(["a:1", "url:http://x"], ['{"b": "2", "a": "3"}']) == {"a": "3", "url": "http://x",
                                                                                    "b": "2"}
    for bad, name in (([":v"], "tag"), (["k"], "tag")):
        with pytest.raises(BadRequest, match=f"^{name}: "):
            params.parse_tags(bad, [])
    for raw in ("[1]", '{"a": 1}', "{"):
        with pytest.raises(BadRequest, match="^tags: "):
            params.parse_tags([], [raw])
    q = params.trace_search(service="s", operation="", tag=[], tags=[], min_duration=None, max_duration=None,
                            start="1000", end="3000", limit=None, lookback=None)
    assert (q.start_ns, q.end_ns, q.limit, q.operation) == (1_000_000, 3_000_000, 20, None)
    q = params.trace_search(service=None, operation=None, tag=[], tags=[], min_duration=None, max_duration=None,
                            start=None, end="3600000000", limit="5", lookback="1h")
    assert (q.start_ns, q.end_ns, q.limit) == (0, 3_600_000_000_000, 5)
    with pytest.raises(BadRequest, match="^start: "):
        params.trace_search(service=None, operation=None, tag=[], tags=[], min_duration=None, max_duration=None,
                            start="5", end="4", limit=None, lookback=None)


def test_dependency_window_and_span_kind() -> None:
    assert params.dependency_window("10000", "4000") == (6_000_000_000, 10_000_000_000)
    end = params.dependency_window("10000", None)
    assert end == (10_000_000_000 - 86_400_000 * 1_000_000, 10_000_000_000)
    assert params.parse_span_kind("SERVER") == "Server" and params.parse_span_kind("") is None
    with pytest.raises(BadRequest, match="^spanKind: "):
        params.parse_span_kind("sideways")
