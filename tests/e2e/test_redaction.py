"""Redaction at ingest: rules from a YAML file are applied before anything is stored, and a changed
rule set replaces the flattening views on restart without losing earlier data."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

from tests.vigil_process import VigilProcess

RULES = """
drop_keys: ["http.request.header.authorization", "*password*", "*token*"]
hash_keys: ["enduser.id"]
value_masks:
  - {name: email, pattern: '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}', replacement: '<email>'}
  - {name: card, pattern: '\\b4\\d{3}(?:[ -]?\\d{4}){3}\\b', replacement: '<card>'}
max_value_chars: 60
max_attributes: 12
"""


def _kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def _s(text: str) -> AnyValue:
    return AnyValue(string_value=text)


def _post(server: VigilProcess, path: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{server.otlp_http}/v1/{path}", content=body,
                      headers={"Content-Type": "application/x-protobuf"})


def _trace(trace_id: bytes, attrs: list[KeyValue], resource: list[KeyValue]) -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([_kv("service.name", _s("redaction-test")), *resource])
    span = rs.scope_spans.add().spans.add()
    now = time.time_ns()
    span.trace_id, span.span_id, span.name = trace_id, b"\x01" * 8, "login"
    span.start_time_unix_nano, span.end_time_unix_nano = now - 1000, now
    span.attributes.extend(attrs)
    ev = span.events.add()
    ev.name, ev.time_unix_nano = "note", now
    ev.attributes.extend([_kv("session.token", _s("abc")), _kv("contact", _s("mail bob@example.org now"))])
    return req.SerializeToString()


def test_redaction_rules_apply_before_storage(tmp_path: Path) -> None:
    rules = tmp_path / "redaction.yaml"
    rules.write_text(RULES)
    server = VigilProcess(tmp_path / "data", env={"VIGIL_REDACTION_FILE": str(rules)}).start()
    try:
        trace_id = bytes(range(16))
        many = [_kv(f"k{i:02d}", _s(str(i))) for i in range(20)]
        attrs = [
            _kv("http.request.header.authorization", _s("Bearer s3cr3t")),
            _kv("user.password", _s("hunter2")),
            _kv("enduser.id", _s("user-42")),
            _kv("db.statement", _s("SELECT * FROM users WHERE email = 'x@y.io' AND id = 42")),
            _kv("message", _s("card 4111 1111 1111 1111 by jo@ex.com")),
            _kv("count", AnyValue(int_value=4111111111111111)),
            _kv("emails", AnyValue(array_value=ArrayValue(values=[_s("a@b.co"), _s("plain")]))),
            _kv("long", _s("x" * 100)),
        ]
        resp = _post(server, "traces", _trace(trace_id, attrs + many, [_kv("api_token", _s("t"))]))
        assert resp.status_code == 200
        warning = ExportTraceServiceResponse.FromString(resp.content).partial_success
        assert warning.rejected_spans == 0  # a warning: the span is stored, its attribute list is cut
        assert warning.error_message == "16 attribute(s) beyond the limit of 12 per attribute list were dropped"
        span = httpx.get(f"{server.api}/api/traces/{trace_id.hex()}").raise_for_status().json()["spans"][0]
        a = span["attributes"]
        assert "http.request.header.authorization" not in a and "user.password" not in a
        assert a["enduser.id"] == hashlib.sha256(b"user-42").hexdigest()
        assert a["db.statement"] == "SELECT * FROM users WHERE email = ? AND id = ?"
        assert a["message"] == "card <card> by <email>"
        assert a["count"] == "4111111111111111"  # numbers are never masked
        assert a["emails"] == '["<email>","plain"]'
        assert a["long"] == "x" * 60
        assert len(a) <= 12 and "k19" not in a  # only the first 12 attributes are kept
        assert "api_token" not in span["resource_attributes"]
        (event,) = span["events"]
        assert event["attributes"] == {"contact": "mail <email> now"}

        logs = ExportLogsServiceRequest()
        rl = logs.resource_logs.add()
        rl.resource.attributes.append(_kv("service.name", _s("redaction-test")))
        rec = rl.scope_logs.add().log_records.add()
        rec.time_unix_nano = time.time_ns()
        rec.body.string_value = "reset link sent to ann@corp.example"
        rec.attributes.append(_kv("password", _s("p")))
        assert _post(server, "logs", logs.SerializeToString()).status_code == 200
        (entry,) = httpx.get(f"{server.api}/api/logs", params={"service": "redaction-test"}).json()["logs"]
        assert entry["body"] == "reset link sent to <email>"
        assert entry["attributes"] == {}
    finally:
        server.stop()

    # Changed rules replace the views on restart; earlier (already redacted) data stays.
    rules.write_text("drop_keys: []\nvalue_masks: []\n")
    again = VigilProcess(tmp_path / "data", env={"VIGIL_REDACTION_FILE": str(rules)}).start()
    try:
        second = bytes(range(1, 17))
        assert _post(again, "traces", _trace(second, [_kv("user.password", _s("visible"))], [])).status_code == 200
        span = httpx.get(f"{again.api}/api/traces/{second.hex()}").json()["spans"][0]
        assert span["attributes"]["user.password"] == "visible"
        assert span["events"][0]["attributes"]["contact"] == "mail bob@example.org now"
        old = httpx.get(f"{again.api}/api/traces/{bytes(range(16)).hex()}").json()["spans"][0]
        assert "user.password" not in old["attributes"]
    finally:
        again.stop()


def test_invalid_redaction_file_is_refused_at_start(tmp_path: Path) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text("value_masks:\n  - {pattern: '(unclosed'}\n")
    proc = VigilProcess(tmp_path / "data", env={"VIGIL_REDACTION_FILE": str(rules)})
    try:
        proc.start(timeout=20)
    except RuntimeError as exc:
        assert "redaction" in str(exc)
    else:
        proc.stop()
        raise AssertionError("server started with an invalid redaction file")
