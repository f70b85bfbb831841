""":func:`alerts.ruleeval.eval_group`: Prometheus 2.42's rule-group evaluation over a :class:`MemoryStore`.

The timing rules here (``for`` boundary, keep_firing_for, 15-minute retention, staleness) are the ones
the promtool parity files in ``parity/`` confirm end to end; these tests pin the evaluator's own contract:
its return values, its state and what it appends.
"""

from __future__ import annotations

import dataclasses
import json
import math

from alerts.ruleeval import FIRING, INACTIVE, PENDING, GroupState, StoreAppender, eval_group
from alerts.rulefile import Rule, RuleGroup
from query.promql.engine import Engine
from query.promql.memstore import MemoryStore
from query.promql.model import STALE_BITS, Labels, labels_of

MIN = 60_000


def _setup(rules: list[Rule], limit: int = 0) -> tuple[RuleGroup, MemoryStore, StoreAppender, Engine]:
    store = MemoryStore()
    return RuleGroup("g", "f.yml", rules, limit=limit), store, StoreAppender(store), Engine(store)


def _stale(v: float) -> bool:
    return math.isnan(v) and int.from_bytes(bytearray(__import__("struct").pack("<d", v)), "little") == STALE_BITS


def test_a_recording_rule_feeds_the_next_rule_at_the_same_time() -> None:
    group, store, app, engine = _setup([Rule("record", "r1", "sum(x)"), Rule("record", "r2", "r1 * 2",
                                                                                   labels={"k": "v"})])
    store.add({"__name__": "x", "i": "1"}, 0, 3)
    store.add({"__name__": "x", "i": "2"}, 0, 4)
    written, alerts = eval_group(group, 0, GroupState(), engine, app)
    assert written == [((("__name__", "r1"),), 0, 7.0), ((("__name__", "r2"), ("k", "v")), 0, 14.0)]
    assert alerts == [[], []]


def test_pending_turns_firing_exactly_after_for_and_writes_alerts_series() -> None:
    group, store, app, engine = _setup([Rule("alert", "A", "x > 0", for_ms=2 * MIN, labels={"sev": "1"})])
    state = GroupState()
    for i in range(6):
        store.add({"__name__": "x"}, i * MIN, 1)
    states = []
    for i in range(4):
        written, alerts = eval_group(group, i * MIN, state, engine, app)
        (a,) = alerts[0]
        states.append(a.state)
        assert a.active_at_ms == 0 and a.labels == {"alertname": "A", "sev": "1"}
    assert states == [PENDING, PENDING, FIRING, FIRING]
    assert state.rules[0].alerts[next(iter(state.rules[0].alerts))].fired_at_ms == 2 * MIN
    alerts_series: Labels = labels_of({"__name__": "ALERTS", "alertname": "A", "alertstate": "firing", "sev": "1"})
    for_state: Labels = labels_of({"__name__": "ALERTS_FOR_STATE", "alertname": "A", "sev": "1"})
    assert (alerts_series, 3 * MIN, 1.0) in written and (for_state, 3 * MIN, 0.0) in written


def test_the_pending_series_goes_stale_when_the_alert_fires() -> None:
    group, store, app, engine = _setup([Rule("alert", "A", "x > 0", for_ms=MIN)])
    store.add_series({"__name__": "x"}, [(0, 1), (MIN, 1)])
    state = GroupState()
    eval_group(group, 0, state, engine, app)
    written, _ = eval_group(group, MIN, state, engine, app)
    pending = labels_of({"__name__": "ALERTS", "alertname": "A", "alertstate": "pending"})
    assert [w for w in written if w[0] == pending and _stale(w[2])] != []


def test_resolved_alerts_are_kept_15_minutes_then_dropped() -> None:
    group, store, app, engine = _setup([Rule("alert", "A", "x > 0")])
    store.add({"__name__": "x"}, 0, 1)
    store.add({"__name__": "x"}, MIN, 0)
    state = GroupState()
    assert eval_group(group, 0, state, engine, app)[1][0][0].state == FIRING
    assert eval_group(group, MIN, state, engine, app)[1] == [[]]
    (a,) = state.rules[0].alerts.values()
    assert (a.state, a.resolved_at_ms) == (INACTIVE, MIN)
    eval_group(group, 16 * MIN, state, engine, app)
    assert len(state.rules[0].alerts) == 1
    eval_group(group, 16 * MIN + 1, state, engine, app)
    assert state.rules[0].alerts == {}


def test_keep_firing_for_holds_a_firing_alert() -> None:
    group, store, app, engine = _setup([Rule("alert", "A", "x > 0", keep_firing_for_ms=2 * MIN)])
    store.add({"__name__": "x"}, 0, 1)
    store.add({"__name__": "x"}, MIN, 0)
    state = GroupState()
    got = [[a.state for a in eval_group(group, t * MIN, state, engine, app)[1][0]] for t in range(4)]
    assert got == [[FIRING], [FIRING], [FIRING], []]


def test_errors_are_kept_per_rule_and_cleared_by_a_good_evaluation() -> None:
    group, store, app, engine = _setup([Rule("record", "r", "x", labels={"i": "same"}), Rule("alert", "A", "x"),
                                        Rule("record", "s", '"str"')], limit=1)
    store.add({"__name__": "x", "i": "1"}, 0, 1)
    store.add({"__name__": "x", "i": "2"}, 0, 1)
    state = GroupState()
    eval_group(group, 0, state, engine, app)
    assert [r.last_error for r in state.rules] == [
        "vector contains metrics with the same labelset after applying rule labels",
        "exceeded limit of 1 with 2 alerts", "rule result is not a vector or scalar"]
    group2 = RuleGroup("g", "f.yml", [Rule("record", "r", "x", labels={"i": "same"})])
    store.add({"__name__": "x", "i": "1"}, 6 * MIN, 1)  # x{i="2"} is out of the lookback now
    eval_group(group2, 6 * MIN, state, engine, app)
    assert state.rules[0].last_error is None


def test_the_appender_refuses_what_the_tsdb_refuses() -> None:
    store = MemoryStore()
    app = StoreAppender(store)
    ls = labels_of({"__name__": "y"})
    assert app(ls, 10, 1.0) is None and app(ls, 10, 1.0) is None
    assert app(ls, 10, 2.0) == "duplicate sample for timestamp"
    assert app(ls, 5, 2.0) == "out of order sample"


def test_templates_expand_with_labels_value_and_external_labels() -> None:
    labels = {"who": "{{ $labels.job }}", "bad": "{{ .Nope }}"}
    annotations = {"s": "{{ $value }} {{ $externalLabels.c }} {{ $externalURL }}"}
    group, store, app, engine = _setup([Rule("alert", "A", "x", labels=labels, annotations=annotations)])
    store.add({"__name__": "x", "job": "j"}, 0, 2.5)
    written, alerts = eval_group(group, 0, GroupState(), engine, app, external_labels={"c": "eu"},
                                 external_url="http://u")
    (a,) = alerts[0]
    assert a.labels["who"] == "j" and a.annotations == {"s": "2.5 eu http://u"}
    assert a.labels["bad"].startswith("<error expanding template: ")


def test_state_is_plain_serialisable_data() -> None:
    group, store, app, engine = _setup([Rule("alert", "A", "x", for_ms=MIN), Rule("record", "r", "x")])
    store.add({"__name__": "x"}, 0, 1)
    state = GroupState()
    eval_group(group, 0, state, engine, app)
    text = json.dumps(dataclasses.asdict(state))
    assert '"state": "pending"' in text and '"previous_series"' in text
