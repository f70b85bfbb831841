"""The alerts module end to end: rule files → real `vigil serve` → spans through the OTel SDK → alert states.

Timing follows Prometheus: an alert is pending from the first evaluation whose result holds it and
fires at the first evaluation at least `for` later. Two processes on one PostgreSQL: exactly one
evaluates, and a killed leader is replaced without resetting the alerts' state.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from tests.alerts.sinks import HttpSink
from tests.pg import throwaway_database
from tests.vigil_process import VigilProcess

RULES = """
groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: ManyRequests
        expr: sum by (service_name) (vigil_http_server_requests_total{{service_name="{svc}"}}) >= 3
        for: 2s
        labels: {{severity: warning}}
        annotations:
          summary: "{{{{ $labels.service_name }}}} served {{{{ $value }}}} requests"
      - record: e2e:requests
        expr: sum(vigil_http_server_requests_total{{service_name="{svc}"}})
"""
ALWAYS = """
groups:
  - name: always
    interval: 1s
    rules:
      - alert: Always
        expr: vector(1)
        for: 1s
"""


def wait_for(check: Callable[[], Any], timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.25)


def api(v: VigilProcess, path: str) -> Any:
    r = httpx.get(f"{v.api}{path}", timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VigilProcess, str, Path]]:
    svc = f"alerts-e2e-{uuid.uuid4().hex[:8]}"
    base = tmp_path_factory.mktemp("alerts-e2e")
    rules = base / "rules"
    rules.mkdir()
    (rules / "e2e.yml").write_text(RULES.format(svc=svc))
    proc = VigilProcess(base / "data", env={"VIGIL_RULES": str(rules)}).start()
    try:
        yield proc, svc, rules
    finally:
        proc.stop()


def send_requests(v: VigilProcess, svc: str, n: int) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": svc}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{v.otlp_http}/v1/traces",
                                                                     timeout=30)))
    tracer = provider.get_tracer("e2e")
    for _ in range(n):
        with tracer.start_as_current_span("GET /x", kind=SpanKind.SERVER,
                                          attributes={"http.request.method": "GET", "http.route": "/x",
                                                      "http.response.status_code": 200}):
            pass
    provider.shutdown()


def test_pending_then_firing_after_for_with_templated_annotations(served: tuple[VigilProcess, str, Path]) -> None:
    v, svc, _ = served
    assert api(v, "/api/alerts")["alerts"] == []
    send_requests(v, svc, 3)
    firing = wait_for(lambda: [a for a in api(v, "/api/alerts")["alerts"] if a["state"] == "firing"])
    (alert,) = firing
    assert alert["labels"] == {"alertname": "ManyRequests", "service_name": svc, "severity": "warning"}
    assert alert["annotations"]["summary"] == f"{svc} served 3 requests"
    assert alert["fired_at_ms"] - alert["active_at_ms"] >= 2000  # `for: 2s`
    history = api(v, f"/api/alerts/history?fingerprint={alert['fingerprint']}")["transitions"]
    assert [t["to"] for t in reversed(history)] == ["pending", "firing"]
    prom = api(v, "/api/v1/alerts")
    assert prom["status"] == "success" and prom["data"]["alerts"][0]["state"] == "firing"
    assert prom["data"]["alerts"][0]["value"] == "3e+00"
    rules = api(v, "/api/v1/rules")["data"]["groups"][0]["rules"]
    assert [(r["type"], r["health"]) for r in rules] == [("alerting", "ok"), ("recording", "ok")]
    assert rules[0]["state"] == "firing" and rules[0]["duration"] == 2.0
    overview = api(v, f"/api/dashboard?service={svc}")
    assert overview["alerts"]["evaluating"] is True
    assert [(a["name"], a["state"], a["severity"]) for a in overview["alerts"]["active"]] == [
        ("ManyRequests", "firing", "warning")]
    assert "alert ManyRequests firing" in overview["health"]["reasons"]
    recorded = api(v, "/api/v1/query?query=e2e:requests")["data"]["result"]  # this process's recording rule
    assert [(r["metric"], r["value"][1]) for r in recorded] == [({"__name__": "e2e:requests"}, "3")]


def test_acknowledge_and_silences(served: tuple[VigilProcess, str, Path]) -> None:
    v, svc, _ = served
    send_requests(v, svc, 3)
    alert = wait_for(lambda: next((a for a in api(v, "/api/alerts")["alerts"] if a["state"] == "firing"), None))
    bad = httpx.post(f"{v.api}/api/alerts/acknowledge", json={"fingerprint": "0" * 16}, timeout=30)
    assert bad.status_code == 400 and "fingerprint" in bad.text
    ok = httpx.post(f"{v.api}/api/alerts/acknowledge", json={"fingerprint": alert["fingerprint"], "comment": "mine",
                                                            "expires_in_s": 600}, timeout=30)
    assert ok.status_code == 200, ok.text
    acked = next(a for a in api(v, "/api/alerts")["alerts"] if a["fingerprint"] == alert["fingerprint"])
    assert acked["ack"]["comment"] == "mine" and acked["ack"]["expires_at_ms"] > time.time() * 1000
    body = {"matchers": [{"name": "service_name", "value": svc, "isRegex": False, "isEqual": True}],
            "endsAt": time.time() + 3600, "comment": "maintenance"}
    sid = httpx.post(f"{v.api}/api/silences", json=body, timeout=30).json()["silenceID"]
    (s,) = [x for x in api(v, "/api/silences") if x["id"] == sid]
    assert s["status"]["state"] == "active" and s["matchers"][0]["value"] == svc
    assert httpx.delete(f"{v.api}/api/silences/{sid}", timeout=30).json()["status"]["state"] == "expired"
    nothing = httpx.post(f"{v.api}/api/silences", json={**body, "matchers": []}, timeout=30)
    assert nothing.status_code == 400 and "matchers" in nothing.text


def test_an_invalid_rule_file_is_refused_and_the_last_good_set_keeps_running(
        served: tuple[VigilProcess, str, Path]) -> None:
    v, svc, rules = served
    good = (rules / "e2e.yml").read_text()
    (rules / "broken.yml").write_text("groups:\n  - name: b\n    rules:\n      - alert: X\n        expr: sum(\n")
    try:
        r = httpx.post(f"{v.api}/api/rules/reload", timeout=30)
        assert r.status_code == 400
        assert any("broken.yml:5:" in p for p in r.json()["problems"]), r.json()
        doc = api(v, "/api/rules")
        assert [g["name"] for g in doc["groups"]] == ["e2e"] and doc["rule_file_problems"]
        health = api(v, "/api/health")["components"]["alerts"]
        assert health["status"] == "ok" and health["groups"] == 1 and health["rule_file_problems"]
    finally:
        (rules / "broken.yml").unlink()
    v.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
    wait_for(lambda: api(v, "/api/rules")["rule_file_problems"] == [])
    assert (rules / "e2e.yml").read_text() == good


def test_two_evaluators_one_leader_and_a_hand_over_without_reset(tmp_path: Path) -> None:
    (tmp_path / "always.yml").write_text(ALWAYS)
    hook = HttpSink()
    (tmp_path / "am.yml").write_text(f"""route: {{receiver: hook, group_wait: 1s, repeat_interval: 4h}}
receivers: [{{name: hook, webhook_configs: [{{url: "{hook.url('/hook')}"}}]}}]
""")
    with throwaway_database() as url:
        env = {"VIGIL_RULES": str(tmp_path / "always.yml"), "VIGIL_POSTGRES_URL": url, "VIGIL_HOST_METRICS": "false",
               "VIGIL_ALERTING_CONFIG": str(tmp_path / "am.yml")}
        a = VigilProcess(tmp_path / "a", env=env).start()
        b = VigilProcess(tmp_path / "b", env=env).start()
        try:
            def leaders() -> list[VigilProcess]:
                return [p for p in (a, b) if api(p, "/api/health")["components"]["alerts"]["leader"]]
            (leader,) = wait_for(lambda: leaders() if len(leaders()) == 1 else None)
            standby = b if leader is a else a
            wait_for(lambda: any(x["state"] == "firing" for x in api(leader, "/api/alerts")["alerts"]))
            wait_for(lambda: hook.at("/hook"))
            leader.stop(signal.SIGKILL)
            killed = time.monotonic()
            wait_for(lambda: api(standby, "/api/health")["components"]["alerts"]["leader"], timeout=20)
            assert time.monotonic() - killed < 5  # the standby retries the lease every group interval (1 s)
            time.sleep(4)  # evaluations and notification flushes of the new leader
            alerts = api(standby, "/api/alerts")["alerts"]
            assert [x["state"] for x in alerts] == ["firing"]  # restored: not pending again
            history = api(standby, "/api/alerts/history")["transitions"]
            assert [t["to"] for t in reversed(history)] == ["pending", "firing"]  # no second pending
            assert len(hook.at("/hook")) == 1  # the new leader read the notification log: no duplicate
        finally:
            a.stop()
            b.stop()
            hook.close()
