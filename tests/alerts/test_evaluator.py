"""The production evaluator: pending → firing → resolved with `for`, state and history saved, restart-safe."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.evaluator import RuleEvaluator, group_key
from alerts.fingerprint import fingerprint
from alerts.rulefile import RuleGroup, load_rule_file
from contracts.alerting import InMemoryAlerting
from contracts.events import InProcessEventBus, Topic
from query.promql.memstore import MemoryStore
from query.promql.model import labels_of

RULES = """
groups:
  - name: api
    interval: 1m
    rules:
      - record: job:errors:rate1m
        expr: sum by (job) (rate(errors_total[2m]))
      - alert: HighErrors
        expr: job:errors:rate1m > 1
        for: 2m
        labels: {severity: page}
        annotations: {summary: "{{ $labels.job }} at {{ $value }}/s"}
"""
MIN = 60_000


def rules(tmp_path: Path, text: str = RULES) -> list[RuleGroup]:
    f = tmp_path / "rules.yml"
    f.write_text(text)
    groups, problems = load_rule_file(f)
    assert problems == []
    return groups


def store(rate_per_s: list[float]) -> MemoryStore:
    """errors_total{job="api"} sampled every 15 s, rising at rate_per_s[minute] per second."""
    st, v, pts = MemoryStore(), 0.0, []
    for minute, r in enumerate(rate_per_s):
        for q in range(4):
            pts.append((minute * MIN + q * 15_000, v))
            v += r * 15
    st.add_series(labels_of({"__name__": "errors_total", "job": "api"}), pts)
    return st


def test_pending_firing_resolved_saved_and_published(tmp_path: Path) -> None:
    groups = rules(tmp_path)
    repo, bus = InMemoryAlerting(), InProcessEventBus()
    ev = RuleEvaluator(store([0, 0, 5, 5, 5, 5, 5, 0, 0, 0, 0]), repo, bus)
    ev.load(groups)
    key = group_key(groups[0])
    seen = []
    for minute in range(3, 11):
        seen += [(minute, t.from_state, t.to_state) for t in ev.evaluate(key, minute * MIN)]
    # rate[2m] > 1 from minute 3 (pending), `for: 2m` → firing at minute 5; errors stop at 7 → rate 0 at 9
    assert seen == [(3, "inactive", "pending"), (5, "pending", "firing"), (9, "firing", "inactive")]
    history = repo.history()
    labels = {"alertname": "HighErrors", "job": "api", "severity": "page"}
    assert [t.to_state for t in reversed(history)] == ["pending", "firing", "inactive"]
    assert all(t.fingerprint == fingerprint(labels) and t.labels == labels for t in history)
    status = ev.groups[key]
    assert status.state.rules[1].alerts  # the resolved alert is kept (15 min) as inactive
    assert [e.data["to"] for e in bus.published if e.topic == Topic.ALERT] == ["pending", "firing", "inactive"]


def test_a_restarted_evaluator_keeps_the_for_timer_and_the_firing_alert(tmp_path: Path) -> None:
    groups = rules(tmp_path)
    repo = InMemoryAlerting()
    data = store([0, 0, 5, 5, 5, 5, 5, 5])
    first = RuleEvaluator(data, repo)
    first.load(groups)
    key = group_key(groups[0])
    assert [t.to_state for t in first.evaluate(key, 3 * MIN)] == ["pending"]
    second = RuleEvaluator(data, repo)  # a restart, mid-`for`
    second.load(groups)
    assert second.evaluate(key, 4 * MIN) == []  # still pending: the timer was not reset
    assert [t.to_state for t in second.evaluate(key, 5 * MIN)] == ["firing"]
    third = RuleEvaluator(data, repo)  # a restart while firing: nothing new
    third.load(groups)
    assert third.evaluate(key, 6 * MIN) == []
    alert = next(iter(third.groups[key].state.rules[1].alerts.values()))
    assert (alert.state, alert.active_at_ms, alert.fired_at_ms) == ("firing", 3 * MIN, 5 * MIN)
    assert alert.annotations["summary"].startswith("api at ")


def test_reordering_rules_keeps_each_rules_state_and_a_changed_rule_starts_over(tmp_path: Path) -> None:
    groups = rules(tmp_path)
    repo = InMemoryAlerting()
    ev = RuleEvaluator(store([0, 0, 5, 5, 5, 5, 5, 5]), repo)
    ev.load(groups)
    key = group_key(groups[0])
    ev.evaluate(key, 3 * MIN)
    reordered = rules(tmp_path, RULES.replace("      - record: job:errors:rate1m\n        expr: sum by (job) "
                                              "(rate(errors_total[2m]))\n", "") +
                      "      - record: job:errors:rate1m\n        expr: sum by (job) (rate(errors_total[2m]))\n")
    assert [r.kind for r in reordered[0].rules] == ["alert", "record"]
    ev.load(reordered)
    assert [t.to_state for t in ev.evaluate(key, 5 * MIN)] == ["firing"]  # the pending alert moved with its rule
    changed = rules(tmp_path, RULES.replace("for: 2m", "for: 3m"))
    ev.load(changed)
    assert [t.to_state for t in ev.evaluate(key, 6 * MIN)] == ["pending"]  # a new rule: a new alert


@pytest.mark.parametrize(("labels", "expected"), [
    ({}, "cbf29ce484222325"),  # FNV-1a 64's offset basis: the empty label set
])
def test_fingerprint_of_the_empty_set(labels: dict[str, str], expected: str) -> None:
    assert fingerprint(labels) == expected
