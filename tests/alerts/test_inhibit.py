"""Inhibition semantics (Alertmanager 0.25)."""

from __future__ import annotations

from alerts.am_matchers import parse_matchers
from alerts.amconfig import InhibitRule
from alerts.inhibit import is_inhibited

RULE = InhibitRule(parse_matchers('severity="critical"'), parse_matchers('severity="warning"'), ("cluster",))


def test_source_inhibits_target_with_equal_labels() -> None:
    src = {"alertname": "Down", "severity": "critical", "cluster": "a"}
    assert is_inhibited({"alertname": "Slow", "severity": "warning", "cluster": "a"}, [src], [RULE])
    assert not is_inhibited({"alertname": "Slow", "severity": "warning", "cluster": "b"}, [src], [RULE])
    assert not is_inhibited({"alertname": "Slow", "severity": "info", "cluster": "a"}, [src], [RULE])
    assert not is_inhibited({"severity": "warning", "cluster": "a"}, [], [RULE])


def test_absent_equal_labels_are_equal() -> None:
    assert is_inhibited({"severity": "warning"}, [{"severity": "critical"}], [RULE])


def test_no_self_inhibition_on_two_sided_match() -> None:
    rule = InhibitRule(parse_matchers('team="x"'), parse_matchers('team="x"'), ())
    a, b = {"team": "x", "n": "1"}, {"team": "x", "n": "2"}
    assert not is_inhibited(a, [a], [rule])
    assert not is_inhibited(a, [a, b], [rule])
