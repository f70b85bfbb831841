"""Notifications end to end: OTel SDK metrics → real `vigil serve` with rules and an alertmanager.yml →
a signed webhook at a local HTTP server and an e-mail at aiosmtpd (STARTTLS + AUTH).

The rule follows Prometheus' timing: pending at the first evaluation above the threshold, firing once
``for`` has passed, held firing for ``keep_firing_for`` after the value drops, then resolved. A restart
while firing neither resets the alert nor notifies again. The configuration without Vigil's own keys
passes ``amtool check-config``.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

from alerts.notifiers.webhook import verify_signature
from tests.alerts.sinks import HttpSink, SmtpSink, self_signed
from tests.alerts.test_alerting_e2e import api, wait_for
from tests.amtool import amtool
from tests.vigil_process import VigilProcess

RULES = """
groups:
  - name: load
    interval: 1s
    rules:
      - alert: HighLoad
        expr: e2e_load{{svc="{svc}"}} > 50
        for: 2s
        keep_firing_for: 3s
        labels: {{severity: critical, team: ops}}
        annotations:
          summary: "load is {{{{ $value }}}}"
"""
CONFIG = """
global:
  smtp_smarthost: 127.0.0.1:{smtp}
  smtp_from: vigil@example.com
  smtp_auth_username: alerts
  smtp_auth_password: pw
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 4h
receivers:
  - name: ops
    webhook_configs:
      - url: {hook}
        vigil_hmac_secret: e2e-secret
    email_configs:
      - to: ops@example.com
        tls_config: {{insecure_skip_verify: true}}
"""


class Load:
    """A gauge exported through the OTel SDK every 200 ms; ``value`` is what it reports."""

    def __init__(self, v: VigilProcess, svc: str) -> None:
        self.value = 80.0
        self.svc = svc
        self.provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{v.otlp_http}/v1/metrics", timeout=5), export_interval_millis=200)])
        self.gauge = self.provider.get_meter("e2e").create_gauge("e2e.load")
        self.set(80.0)

    def set(self, value: float) -> None:
        self.value = value
        self.gauge.set(value, {"svc": self.svc})


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VigilProcess, HttpSink, SmtpSink, str, Path]]:
    base = tmp_path_factory.mktemp("notify-e2e")
    svc = f"n-{uuid.uuid4().hex[:8]}"
    hook, smtp = HttpSink(), SmtpSink(self_signed(base), user="alerts", password="pw")
    (base / "rules.yml").write_text(RULES.format(svc=svc))
    (base / "am.yml").write_text(CONFIG.format(smtp=smtp.port, hook=hook.url("/hook")))
    v = VigilProcess(base / "data", env={"VIGIL_RULES": str(base / "rules.yml"),
                                         "VIGIL_ALERTING_CONFIG": str(base / "am.yml"),
                                         "VIGIL_EXTERNAL_URL": "http://vigil.test:3001"}).start()
    try:
        yield v, hook, smtp, svc, base
    finally:
        v.stop()
        hook.close()
        smtp.close()


def _alert(v: VigilProcess) -> dict[str, Any] | None:
    return next(iter(api(v, "/api/alerts")["alerts"]), None)


def test_config_without_vigil_keys_passes_amtool(setup: tuple[VigilProcess, HttpSink, SmtpSink, str, Path]) -> None:
    base = setup[4]
    doc = yaml.safe_load((base / "am.yml").read_text())
    for r in doc["receivers"]:
        for c in r.get("webhook_configs", []):
            c.pop("vigil_hmac_secret")
    (base / "am-plain.yml").write_text(yaml.safe_dump(doc))
    out = subprocess.run([amtool(), "check-config", str(base / "am-plain.yml")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_fire_notify_restart_resolve(setup: tuple[VigilProcess, HttpSink, SmtpSink, str, Path]) -> None:
    v, hook, smtp, svc, _ = setup
    load = Load(v, svc)
    try:
        firing = wait_for(lambda: (a := _alert(v)) and a["state"] == "firing" and a)
        assert firing["fired_at_ms"] - firing["active_at_ms"] >= 2000
        (req,) = wait_for(lambda: hook.at("/hook"))
        assert verify_signature("e2e-secret", req.headers["x-vigil-timestamp"], req.body,
                                req.headers["x-vigil-signature"])
        body = req.json()
        assert body["status"] == "firing" and body["receiver"] == "ops" and body["externalURL"] == "http://vigil.test:3001"
        (a,) = body["alerts"]
        assert {k: a["labels"][k] for k in ("alertname", "svc", "severity", "team")} == {
            "alertname": "HighLoad", "svc": svc, "severity": "critical", "team": "ops"}
        assert a["annotations"]["summary"] == "load is 80" and a["fingerprint"] == firing["fingerprint"]
        env, msg = wait_for(lambda: smtp.messages and smtp.messages[0])
        assert env.rcpt_tos == ["ops@example.com"] and msg["Subject"] == "[FIRING:1] HighLoad"

        v.stop()  # restart while firing
        v.start()
        again = wait_for(lambda: (x := _alert(v)) and x["state"] == "firing" and x)
        assert again["active_at_ms"] == firing["active_at_ms"]  # `for` not reset, still the same alert
        time.sleep(4)  # several evaluations and flushes of the new process
        assert len(hook.at("/hook")) == 1 and len(smtp.messages) == 1
        history = api(v, f"/api/alerts/history?fingerprint={firing['fingerprint']}")["transitions"]
        assert [t["to"] for t in reversed(history)] == ["pending", "firing"]

        load.set(10.0)
        dropped = time.time()
        wait_for(lambda: _alert(v) is None)
        assert time.time() - dropped >= 3.0  # keep_firing_for
        resolved = wait_for(lambda: [r for r in hook.at("/hook") if r.json()["status"] == "resolved"])
        assert resolved[0].json()["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
        assert len(smtp.messages) == 1  # email_configs do not send resolved notifications by default
        deliveries = api(v, "/api/alerts/deliveries")["deliveries"]
        assert {(d["integration"], d["outcome"]) for d in deliveries} == {("webhook[0]", "ok"), ("email[0]", "ok")}
        assert len(deliveries) == 3
        health = api(v, "/api/health")["components"]["alerts"]
        assert health["notifications_sent"] >= 1 and health["notifications_failed"] == 0
    finally:
        load.provider.shutdown()
