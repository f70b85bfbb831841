"""Alertmanager inhibition (``inhibit/inhibit.go`` semantics of 0.25).

Contract: an alert is inhibited when some rule's target matchers match it and some *other* firing
alert matches the rule's source matchers with equal values (absent = ``""``) for every ``equal`` label.
When the target alert itself also matches the rule's source, source alerts that also match the
target are skipped (Alertmanager's two-sided-match exclusion), so such alerts never inhibit each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from alerts.am_matchers import matches_all
from alerts.amconfig import InhibitRule


def is_inhibited(labels: Mapping[str, str], firing: Sequence[Mapping[str, str]],
                 rules: Sequence[InhibitRule]) -> bool:
    """Whether the alert with ``labels`` is muted by one of ``firing`` (the currently firing alerts)."""
    for rule in rules:
        if not matches_all(rule.target, labels):
            continue
        two_sided = matches_all(rule.source, labels)
        for src in firing:
            if dict(src) == dict(labels) or (two_sided and matches_all(rule.target, src)):
                continue
            if matches_all(rule.source, src) and all(src.get(e, "") == labels.get(e, "") for e in rule.equal):
                return True
    return False
