"""The demo shop's declined payments fire the demo rules file's PaymentErrorRate rule and notify.

The session's demo (tests/demo_fixture.py, a quarter of payments declined) runs against a real Vigil.
Its span-derived series are read back through the Prometheus API of that Vigil (raw samples of a range
selector), then the production evaluator runs the shipped ``instrumentation/demo/rules.yml`` over them
at the demo's times — every 30 s, the group's interval — so ``for: 2m`` passes in virtual time, and the
dispatcher delivers the firing alert to a local webhook.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alerts.amconfig import load_amconfig
from alerts.dispatcher import Dispatcher
from alerts.evaluator import RuleEvaluator
from alerts.rulefile import load_rule_file
from contracts.alerting import InMemoryAlerting
from query.promql.memstore import MemoryStore
from tests.alerts.sinks import HttpSink
from tests.demo_fixture import DemoData
from vigil.demo import rules_file

SERIES = ("vigil_http_server_errors_total", "vigil_http_server_requests_total")


@pytest.fixture(scope="module")
def sink() -> Iterator[HttpSink]:
    s = HttpSink()
    yield s
    s.close()


def stored(demo: DemoData) -> tuple[MemoryStore, float]:
    """The payments service's derived series as raw samples, and the demo's error percentage from them."""
    store, total = MemoryStore(), {}
    for name in SERIES:
        r = httpx.get(f"{demo.vigil.api}/api/v1/query", timeout=60,
                      params={"query": f'{name}{{service_name="payments"}}[2h]'})
        assert r.status_code == 200, r.text
        result = r.json()["data"]["result"]
        assert result, f"no {name} for payments"
        total[name] = 0.0
        for s in result:
            points = [(int(float(t) * 1000), float(v)) for t, v in s["values"]]
            store.add_series(s["metric"], points)
            total[name] += points[-1][1] - points[0][1]
    return store, 100 * total[SERIES[0]] / total[SERIES[1]]


async def test_declined_payments_fire_the_demo_rule_and_notify(demo: DemoData, sink: HttpSink,
                                                               tmp_path: Path) -> None:
    store, percent = stored(demo)
    assert percent > 5  # the demo declines a quarter of payments (some requests fail before paying)
    groups, problems = load_rule_file(rules_file())
    assert problems == []
    evaluator = RuleEvaluator(store, InMemoryAlerting())
    evaluator.load(groups)
    (key,) = evaluator.groups
    # the derived counters have a sample at every minute boundary: from the first boundary after the
    # demo's end, every 5m window holds the demo's last count (an earlier start could see one sample)
    start = (int(demo.ended_s * 1000) // 60_000 + 1) * 60_000
    states = []
    for i in range(6):
        evaluator.evaluate(key, start + i * 30_000)
        states.append({a.state for st in evaluator.groups[key].state.rules for a in st.alerts.values()
                       if a.labels["alertname"] == "PaymentErrorRate"})
    assert states == [{"pending"}] * 4 + [{"firing"}] * 2  # pending for `for: 2m`, then firing
    (firing,) = [a for a in evaluator.notifiable() if a.labels["alertname"] == "PaymentErrorRate"]
    assert firing.labels == {"alertname": "PaymentErrorRate", "service_name": "payments", "severity": "warning",
                             "team": "payments"}
    assert firing.annotations["summary"].startswith("payments is failing ")
    (tmp_path / "am.yml").write_text(f"""route: {{receiver: pay, group_by: [team], group_wait: 0s}}
receivers: [{{name: pay, webhook_configs: [{{url: "{sink.url('/pay')}"}}]}}]
""")
    dispatcher = Dispatcher(load_amconfig(tmp_path / "am.yml"), evaluator.repo)
    await dispatcher.tick(evaluator.notifiable(), start + 5 * 30_000)
    await dispatcher.drain()
    (req,) = await asyncio.to_thread(sink.at, "/pay")
    body = req.json()
    assert body["groupLabels"] == {"team": "payments"}
    assert [a["labels"]["alertname"] for a in body["alerts"]] == ["PaymentErrorRate"]
