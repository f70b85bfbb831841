"""alerts.dispatcher: routing, grouping, timing, silences, inhibition, acks, escalation, retries — real HTTP.

Alerts are handed to the dispatcher directly with explicit times (the evaluator's side is tested in
test_alerting_e2e/test_notify_e2e); deliveries go to a real local HTTP server.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.amconfig import load_amconfig
from alerts.dispatcher import Dispatcher
from alerts.fingerprint import fingerprint
from alerts.notifiers.delivery import RetryPolicy
from contracts.alerting import Ack, InMemoryAlerting
from contracts.notify import AlertInstance
from tests.alerts.sinks import HttpSink

T0 = 1_800_000_000_000  # ms
MIN = 60_000
FAST = RetryPolicy(initial_s=0.01, max_s=0.05, attempts=3, deadline_s=5)


@pytest.fixture(scope="module")
def sink() -> Iterator[HttpSink]:
    s = HttpSink()
    yield s
    s.close()


def alert(name: str, status: str = "firing", started_ms: int = T0, ended_ms: int = 0,
          **labels: str) -> AlertInstance:
    lab = {"alertname": name, **labels}
    return AlertInstance(status, lab, {"summary": f"{name} summary"},  # type: ignore[arg-type]
                         started_ms / 1000, ended_ms / 1000, fingerprint(lab))


def config(tmp_path: Path, sink: HttpSink, body: str, tag: str) -> Path:
    p = tmp_path / "am.yml"
    p.write_text(body.replace("URL2", sink.url(f"/{tag}-2")).replace("URL", sink.url(f"/{tag}")))
    return p


def make(tmp_path: Path, sink: HttpSink, tag: str, route: str = "", extra: str = "",
         repo: InMemoryAlerting | None = None) -> tuple[Dispatcher, InMemoryAlerting]:
    body = f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
{route}
receivers:
  - name: hook
    webhook_configs:
      - url: URL
        vigil_hmac_secret: s3cret
        vigil_headers: {{X-Team: payments}}
  - name: pager
    webhook_configs:
      - url: URL2
{extra}
"""
    repo = repo if repo is not None else InMemoryAlerting()
    return Dispatcher(load_amconfig(config(tmp_path, sink, body, tag)), repo, "http://vigil.example", FAST), repo


async def run(d: Dispatcher, alerts: list[AlertInstance], now_ms: int) -> None:
    await d.tick(alerts, now_ms)
    await d.drain()


async def test_group_wait_then_one_notification_per_group(tmp_path: Path, sink: HttpSink) -> None:
    d, repo = make(tmp_path, sink, "group")
    alerts = [alert("A", instance="1", started_ms=T0), alert("A", instance="2", started_ms=T0), alert("B")]
    await run(d, alerts, T0 + 10_000)
    assert sink.at("/group") == []  # group_wait not over
    await run(d, alerts, T0 + 31_000)
    got = [r.json() for r in sink.at("/group")]
    assert sorted(len(b["alerts"]) for b in got) == [1, 2]
    a = next(b for b in got if b["groupLabels"] == {"alertname": "A"})
    assert a["version"] == "4" and a["status"] == "firing" and a["receiver"] == "hook"
    assert a["groupKey"] == '{}:{alertname="A"}' and a["commonLabels"] == {"alertname": "A"}
    assert a["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z" and a["truncatedAlerts"] == 0
    assert a["alerts"][0]["startsAt"] == "2027-01-15T08:00:00.000Z"
    assert {x["fingerprint"] for x in a["alerts"]} == {alerts[0].fingerprint, alerts[1].fingerprint}
    assert [x.outcome for x in repo.deliveries()] == ["ok", "ok"]
    await run(d, alerts, T0 + 10 * MIN)  # nothing new, repeat not due
    assert len(sink.at("/group")) == 2


async def test_signature_and_custom_headers(tmp_path: Path, sink: HttpSink) -> None:
    d, _ = make(tmp_path, sink, "sig")
    await run(d, [alert("A", started_ms=T0 - MIN)], T0)  # older than group_wait: flushed at once
    (req,) = sink.at("/sig")
    ts = req.headers["x-vigil-timestamp"]
    expected = "sha256=" + hmac.new(b"s3cret", ts.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-vigil-signature"] == expected
    assert req.headers["x-team"] == "payments" and req.headers["content-type"] == "application/json"


async def test_new_alert_in_group_is_sent_at_group_interval_and_repeat(tmp_path: Path, sink: HttpSink) -> None:
    d, _ = make(tmp_path, sink, "interval")
    a1, a2 = alert("A", instance="1"), alert("A", instance="2", started_ms=T0 + 2 * MIN)
    await run(d, [a1], T0 + 31_000)
    await run(d, [a1, a2], T0 + 2 * MIN + 10_000)  # within group_interval: waits
    assert len(sink.at("/interval")) == 1
    await run(d, [a1, a2], T0 + 31_000 + 5 * MIN)
    assert [len(r.json()["alerts"]) for r in sink.at("/interval")] == [1, 2]
    await run(d, [a1, a2], T0 + 31_000 + 60 * MIN)  # repeat_interval after the last send: 2nd at +5m31s
    assert len(sink.at("/interval")) == 2
    await run(d, [a1, a2], T0 + 31_000 + 65 * MIN)
    assert len(sink.at("/interval")) == 3


async def test_resolved_notification(tmp_path: Path, sink: HttpSink) -> None:
    d, _ = make(tmp_path, sink, "resolved")
    await run(d, [alert("A")], T0 + 31_000)
    done = alert("A", "resolved", ended_ms=T0 + 3 * MIN)
    await run(d, [done], T0 + 31_000 + 5 * MIN)
    body = sink.at("/resolved")[-1].json()
    assert body["status"] == "resolved" and body["alerts"][0]["endsAt"] == "2027-01-15T08:03:00.000Z"
    await run(d, [done], T0 + 31_000 + 10 * MIN)
    assert len(sink.at("/resolved")) == 2


async def test_ack_stops_repeats_but_not_new_alerts(tmp_path: Path, sink: HttpSink) -> None:
    d, repo = make(tmp_path, sink, "ack")
    a1 = alert("A", instance="1")
    await run(d, [a1], T0 + 31_000)
    repo.acknowledge(Ack(a1.fingerprint, "alice", T0 + MIN))
    await run(d, [a1], T0 + 2 * 60 * MIN)  # repeat due, but acknowledged
    assert len(sink.at("/ack")) == 1
    a2 = alert("A", instance="2")
    await run(d, [a1, a2], T0 + 2 * 60 * MIN + 5 * MIN)
    assert len(sink.at("/ack")) == 2
    await run(d, [alert("A", "resolved", ended_ms=T0 + 3 * 60 * MIN, instance="1"), a2], T0 + 3 * 60 * MIN)
    assert repo.acks() == {}  # resolving forgets the ack


async def test_expired_ack_repeats_again(tmp_path: Path, sink: HttpSink) -> None:
    d, repo = make(tmp_path, sink, "ackexp")
    a1 = alert("A")
    await run(d, [a1], T0 + 31_000)
    repo.acknowledge(Ack(a1.fingerprint, "alice", T0 + MIN, expires_at_ms=T0 + 90 * MIN))
    await run(d, [a1], T0 + 80 * MIN)
    assert len(sink.at("/ackexp")) == 1
    await run(d, [a1], T0 + 100 * MIN)
    assert len(sink.at("/ackexp")) == 2


async def test_silence_suppresses_until_it_ends(tmp_path: Path, sink: HttpSink) -> None:
    d, repo = make(tmp_path, sink, "silence")
    repo.add_silence([["alertname", "=", "A"], ["instance", "=~", "1|3"]], T0, T0 + 10 * MIN, "bob", "deploy", T0)
    await run(d, [alert("A", instance="1"), alert("A", instance="2")], T0 + 31_000)
    (req,) = sink.at("/silence")
    assert [x["labels"]["instance"] for x in req.json()["alerts"]] == ["2"]
    await run(d, [alert("A", instance="1"), alert("A", instance="2")], T0 + 11 * MIN)
    assert len(sink.at("/silence")) == 2 and len(sink.at("/silence")[1].json()["alerts"]) == 2


async def test_inhibition(tmp_path: Path, sink: HttpSink) -> None:
    extra = """inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [service]
"""
    d, _ = make(tmp_path, sink, "inhibit", extra=extra)
    alerts = [alert("Down", severity="critical", service="pay"), alert("Slow", severity="warning", service="pay"),
              alert("Slow2", severity="warning", service="cart")]
    await run(d, alerts, T0 + 31_000)
    names = sorted(r.json()["groupLabels"]["alertname"] for r in sink.at("/inhibit"))
    assert names == ["Down", "Slow2"]


async def test_routing_tree_and_continue(tmp_path: Path, sink: HttpSink) -> None:
    route = """  routes:
    - matchers: [team="pay"]
      receiver: pager
      continue: true
    - matchers: [team=~"pay|web"]
      receiver: hook
      group_by: [team]
"""
    d, _ = make(tmp_path, sink, "route", route=route)
    await run(d, [alert("A", team="pay"), alert("B", team="web"), alert("C", team="db")], T0 + 31_000)
    assert [r.json()["groupLabels"] for r in sink.at("/route-2")] == [{"alertname": "A"}]
    hook = sorted((tuple(r.json()["groupLabels"].items()), len(r.json()["alerts"])) for r in sink.at("/route"))
    assert hook == [((("alertname", "C"),), 1), ((("team", "pay"),), 1), ((("team", "web"),), 1)]


async def test_mute_time_interval(tmp_path: Path, sink: HttpSink) -> None:
    route = "  mute_time_intervals: [night]\n"
    extra = """time_intervals:
  - name: night
    time_intervals:
      - times: [{start_time: "07:00", end_time: "09:00"}]
"""
    d, _ = make(tmp_path, sink, "mute", route=route, extra=extra)  # T0 is 08:00 UTC
    await run(d, [alert("A")], T0 + 31_000)
    assert sink.at("/mute") == []
    await run(d, [alert("A")], T0 + 61 * MIN)
    assert len(sink.at("/mute")) == 1


async def test_escalation_after_delay_unless_acked(tmp_path: Path, sink: HttpSink) -> None:
    route = "  vigil_escalation: oncall\n"
    extra = """vigil:
  escalation_policies:
    oncall:
      - after: 10m
        receivers: [pager]
"""
    d, repo = make(tmp_path, sink, "esc", route=route, extra=extra)
    a1 = alert("A", instance="1")
    await run(d, [a1], T0 + 31_000)
    await run(d, [a1], T0 + 9 * MIN)
    assert len(sink.at("/esc")) == 1 and sink.at("/esc-2") == []
    await run(d, [a1], T0 + 10 * MIN)  # exactly at the step's delay (not at a group_interval boundary)
    assert len(sink.at("/esc-2")) == 1
    assert {s.escalation_step for s in [repo.last_sent('{}:{alertname="A"}', "pager/webhook[0]@step1")]
            if s} == {1}
    b1 = alert("B", instance="1")
    repo.acknowledge(Ack(b1.fingerprint, "carol", T0))
    await run(d, [a1, b1], T0 + 31_000 + 20 * MIN)
    assert [r.json()["groupLabels"] for r in sink.at("/esc-2")] == [{"alertname": "A"}]  # B acked: no step
    await run(d, [alert("A", "resolved", ended_ms=T0 + 30 * MIN, instance="1")], T0 + 30 * MIN)
    assert sink.at("/esc-2")[-1].json()["status"] == "resolved"  # the step hears the resolution


async def test_failing_receiver_is_retried_with_backoff_and_logged(tmp_path: Path, sink: HttpSink) -> None:
    d, repo = make(tmp_path, sink, "retry")
    sink.script["/retry"] = [500, 503]
    await run(d, [alert("A")], T0 + 31_000)
    assert len(sink.at("/retry")) == 3
    assert [(x.attempt, x.outcome) for x in reversed(repo.deliveries())] == [(1, "retry"), (2, "retry"), (3, "ok")]
    assert "503" in repo.deliveries()[1].error


async def test_permanent_failure_is_not_retried_and_sent_again_later(tmp_path: Path, sink: HttpSink) -> None:
    d, repo = make(tmp_path, sink, "fail")
    sink.script["/fail"] = [400, 500, 500, 500]
    await run(d, [alert("A")], T0 + 31_000)
    assert len(sink.at("/fail")) == 1 and [x.outcome for x in repo.deliveries()] == ["failed"]
    await run(d, [alert("A")], T0 + 31_000 + 5 * MIN)  # next flush: 3 attempts, all 500
    assert [x.outcome for x in reversed(repo.deliveries())] == ["failed", "retry", "retry", "failed"]
    await run(d, [alert("A")], T0 + 31_000 + 10 * MIN)
    assert len(sink.at("/fail")) == 5 and repo.deliveries()[0].outcome == "ok" and d.failed == 2


async def test_restart_does_not_renotify(tmp_path: Path, sink: HttpSink) -> None:
    d, repo = make(tmp_path, sink, "restart")
    await run(d, [alert("A")], T0 + 31_000)
    d2, _ = make(tmp_path, sink, "restart", repo=repo)  # a new process over the same repository
    await run(d2, [alert("A")], T0 + 40 * MIN)
    await run(d2, [alert("A")], T0 + 50 * MIN)
    assert len(sink.at("/restart")) == 1
    await run(d2, [alert("A")], T0 + 31_000 + 61 * MIN)  # the repeat is still on the first send's clock
    assert len(sink.at("/restart")) == 2


async def test_max_alerts_truncates(tmp_path: Path, sink: HttpSink) -> None:
    p = tmp_path / "am.yml"
    p.write_text(f"""route: {{receiver: hook, group_by: ['...'], group_wait: 0s}}
receivers:
  - name: hook
    webhook_configs: [{{url: "{sink.url('/trunc')}", max_alerts: 2}}]
""")
    d = Dispatcher(load_amconfig(p), InMemoryAlerting(), "", FAST)
    route = d.config.route
    assert route.group_by_all  # one group per alert; with no group_by, one group of all five:
    p.write_text(p.read_text().replace("['...']", "[]"))
    d.set_config(load_amconfig(p))
    await run(d, [alert("A", instance=str(i)) for i in range(5)], T0 + 1000)
    (req,) = sink.at("/trunc")
    assert len(req.json()["alerts"]) == 2 and req.json()["truncatedAlerts"] == 3
