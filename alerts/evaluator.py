"""The production rule evaluator: rule groups over the stored telemetry, state and history in PostgreSQL.

:class:`RuleEvaluator` holds the loaded groups (:meth:`RuleEvaluator.load`) and evaluates one group at
a time (:meth:`RuleEvaluator.evaluate`), with :func:`alerts.ruleeval.eval_group` — the same code
``vigil rules test`` runs — so production and unit tests agree. Per evaluation:

* the engine reads a :class:`~query.promql.snapshot.Snapshot` of the store (one read per metric name)
  over ``[t − horizon, t]``, united with the recording rules' outputs (:class:`RecordedSamples`, kept in
  memory for :data:`RECORDED_RETENTION_MS`, visible to later rules and groups and to the query API of
  this process, not to other processes);
* the group's state is loaded from the :class:`~contracts.alerting.AlertingRepository` the first time
  (so a restarted or newly elected evaluator continues ``for`` timers and firing alerts), and saved
  after the evaluation together with its :class:`~contracts.alerting.Transition` s, atomically;
* state is kept per rule *identity* (kind, name, expression, labels), so reordering or editing other
  rules of a file keeps each rule's alerts; a changed rule starts afresh, as in Prometheus;
* each transition is published as an ``alert`` event (``contracts.events.Topic.ALERT``).

Not thread-safe: one scheduler calls it (see :mod:`alerts.scheduler`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerts.fingerprint import fingerprint
from alerts.ruleeval import FIRING, INACTIVE, ActiveAlert, GroupState, RuleState, StoreAppender, eval_group
from alerts.rulefile import Rule, RuleGroup
from contracts.alerting import AlertingRepository, Transition
from contracts.events import EventBus, Topic
from contracts.notify import AlertInstance
from query.promql.engine import Engine
from query.promql.memstore import MemoryStore
from query.promql.model import Labels, Matcher, SampleSource, Series
from query.promql.snapshot import Snapshot

log = logging.getLogger(__name__)

RECORDED_RETENTION_MS = 6 * 3_600_000
DEFAULT_HORIZON_MS = 3_600_000 + 300_000


def group_key(group: RuleGroup) -> str:
    """The group's identity: its file and name (``rules/api.yml:api``)."""
    return f"{group.file}:{group.name}"


def rule_key(rule: Rule) -> str:
    """A rule's identity: a hash of its kind, name, expression, ``for``, ``keep_firing_for`` and labels."""
    doc = json.dumps([rule.kind, rule.name, rule.expr, rule.for_ms, rule.keep_firing_for_ms,
                      sorted(rule.labels.items())])
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


class RecordedSamples:
    """The recording rules' outputs, in memory, pruned to the last :data:`RECORDED_RETENTION_MS`.

    A :class:`SampleSource` itself (the query API of the same process unites it with the store), and
    :meth:`append` is the evaluator's appender; a lock makes reads and appends from different threads safe.
    """

    def __init__(self) -> None:  # noqa: D107
        self._lock = threading.Lock()
        self._store = MemoryStore()
        self._appender = StoreAppender(self._store)
        self._pruned_at = 0

    def append(self, labels: Labels, t_ms: int, value: float) -> str | None:
        """The evaluator's :data:`~alerts.ruleeval.Appender` (the TSDB head's refusals)."""
        with self._lock:
            return self._appender(labels, t_ms, value)

    def prune(self, now_ms: int) -> None:
        """Forget samples older than the retention (at most once a minute)."""
        if now_ms - self._pruned_at < 60_000:
            return
        self._pruned_at = now_ms
        with self._lock:
            fresh = MemoryStore()
            for s in self._store.select([], now_ms - RECORDED_RETENTION_MS, now_ms + 3_600_000):
                fresh.add_series(s.labels, list(zip(s.t.tolist(), s.v.tolist(), strict=True)))
            self._store = self._appender.store = fresh

    def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[Series]:  # noqa: D102
        with self._lock:
            return self._store.select(matchers, start_ms, end_ms)

    def label_names(self, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int,  # noqa: D102
                    end_ms: int) -> list[str]:
        with self._lock:
            return self._store.label_names(matcher_sets, start_ms, end_ms)

    def label_values(self, name: str, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int,  # noqa: D102
                     end_ms: int) -> list[str]:
        with self._lock:
            return self._store.label_values(name, matcher_sets, start_ms, end_ms)


class Union:
    """A :class:`SampleSource` of two sources (the store and the recorded samples)."""

    def __init__(self, first: SampleSource, second: SampleSource) -> None:  # noqa: D107
        self.first, self.second = first, second

    def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[Series]:  # noqa: D102
        return self.first.select(matchers, start_ms, end_ms) + self.second.select(matchers, start_ms, end_ms)

    def label_names(self, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int,  # noqa: D102
                    end_ms: int) -> list[str]:
        return sorted(set(self.first.label_names(matcher_sets, start_ms, end_ms))
                      | set(self.second.label_names(matcher_sets, start_ms, end_ms)))

    def label_values(self, name: str, matcher_sets: Sequence[Sequence[Matcher]], start_ms: int,  # noqa: D102
                     end_ms: int) -> list[str]:
        return sorted(set(self.first.label_values(name, matcher_sets, start_ms, end_ms))
                      | set(self.second.label_values(name, matcher_sets, start_ms, end_ms)))


@dataclass
class GroupStatus:
    """What ``/api/rules`` reports of a group: its last evaluation and each rule's health."""

    group: RuleGroup
    interval_ms: int
    last_evaluation_ms: int = 0
    last_duration_s: float = 0.0
    state: GroupState = field(default_factory=GroupState)
    loaded: bool = False
    alerts: list[list[ActiveAlert]] = field(default_factory=list)


def _states(state: GroupState) -> dict[tuple[int, str], ActiveAlert]:
    return {(i, k): dataclasses.replace(a) for i, st in enumerate(state.rules) for k, a in st.alerts.items()}


def _alert_state(a: ActiveAlert | None) -> str:
    return INACTIVE if a is None else a.state


def _to_state(doc: dict[str, Any]) -> dict[str, RuleState]:
    """Rule states by rule key from a saved document (``{"rules": {key: RuleState as dict}}``)."""
    out: dict[str, RuleState] = {}
    for key, st in (doc.get("rules") or {}).items():
        alerts = {k: ActiveAlert(**a) for k, a in (st.get("alerts") or {}).items()}
        out[key] = RuleState(alerts=alerts, previous_series=st.get("previous_series") or [],
                             last_error=st.get("last_error"))
    return out


class RuleEvaluator:
    """Evaluates rule groups over ``source``; see the module docstring."""

    def __init__(self, source: SampleSource, repo: AlertingRepository, bus: EventBus | None = None,
                 default_interval_ms: int = 60_000, external_labels: dict[str, str] | None = None,
                 external_url: str = "", horizon_ms: int = DEFAULT_HORIZON_MS,
                 clock: Callable[[], float] = time.time) -> None:
        """Read ``source`` (the columnar store), keep state in ``repo``, publish on ``bus``."""
        self.source, self.repo, self.bus = source, repo, bus
        self.default_interval_ms = default_interval_ms
        self.external_labels, self.external_url = external_labels or {}, external_url
        self.horizon_ms, self.clock = horizon_ms, clock
        self.recorded = RecordedSamples()
        self.groups: dict[str, GroupStatus] = {}

    def load(self, groups: list[RuleGroup]) -> None:
        """Replace the rule groups; a group still present keeps its state (matched rule by rule)."""
        old = self.groups
        self.groups = {}
        for g in groups:
            key = group_key(g)
            status = GroupStatus(g, g.interval_ms or self.default_interval_ms)
            prev = old.get(key)
            if prev is not None and prev.loaded:
                by_rule = dict(zip((rule_key(r) for r in prev.group.rules), prev.state.rules, strict=False))
                status.state = GroupState([by_rule.get(rule_key(r), RuleState()) for r in g.rules])
                status.loaded = True
                status.last_evaluation_ms = prev.last_evaluation_ms
            self.groups[key] = status

    def _restore(self, status: GroupStatus) -> None:
        doc = self.repo.load_group(group_key(status.group)) or {}
        by_rule = _to_state(doc)
        status.state = GroupState([by_rule.get(rule_key(r), RuleState()) for r in status.group.rules])
        status.last_evaluation_ms = int(doc.get("evaluated_at_ms") or 0)
        status.loaded = True

    def reload_state(self) -> None:
        """Forget in-memory state; the next evaluation of each group reads it back (after a leader change)."""
        for status in self.groups.values():
            status.loaded = False

    def ready(self) -> bool:
        """Whether every group's state is loaded (so the alerts it holds are the whole truth)."""
        return all(s.loaded for s in self.groups.values())

    def notifiable(self) -> list[AlertInstance]:
        """The alerts to hand to the dispatcher: firing ones, and resolved ones (that had fired) still kept."""
        out: list[AlertInstance] = []
        for status in self.groups.values():
            for st in status.state.rules:
                for a in st.alerts.values():
                    if a.state == FIRING:
                        out.append(AlertInstance("firing", dict(a.labels), dict(a.annotations),
                                                 (a.fired_at_ms or a.active_at_ms) / 1000, 0.0, fingerprint(a.labels)))
                    elif a.state == INACTIVE and a.resolved_at_ms is not None and a.fired_at_ms is not None:
                        out.append(AlertInstance("resolved", dict(a.labels), dict(a.annotations),
                                                 a.fired_at_ms / 1000, a.resolved_at_ms / 1000, fingerprint(a.labels)))
        return out

    def evaluate(self, key: str, t_ms: int) -> list[Transition]:
        """Evaluate group ``key`` at ``t_ms``; save its state and history; return the transitions."""
        status = self.groups[key]
        if not status.loaded:
            self._restore(status)
        started = time.perf_counter()
        self.recorded.prune(t_ms)
        source = Union(Snapshot(self.source, t_ms - self.horizon_ms, t_ms), self.recorded)
        before = _states(status.state)
        _, status.alerts = eval_group(status.group, t_ms, status.state, Engine(source), self.recorded.append,
                                      external_labels=self.external_labels, external_url=self.external_url)
        transitions = self._transitions(status, before, t_ms)
        doc = {"evaluated_at_ms": t_ms,
               "rules": {rule_key(r): dataclasses.asdict(st) for r, st in zip(status.group.rules, status.state.rules,
                                                                              strict=False)}}
        self.repo.save_group(key, doc, t_ms, transitions)
        status.last_evaluation_ms, status.last_duration_s = t_ms, time.perf_counter() - started
        for tr in transitions:
            if self.bus is not None:
                self.bus.publish(Topic.ALERT, {"group": tr.group, "alertname": tr.rule, "fingerprint": tr.fingerprint,
                                               "labels": tr.labels, "from": tr.from_state, "to": tr.to_state,
                                               "at_ms": tr.at_ms, "value": tr.value,
                                               "service": tr.labels.get("service_name", "")})
        return transitions

    def _transitions(self, status: GroupStatus, before: dict[tuple[int, str], ActiveAlert],
                     t_ms: int) -> list[Transition]:
        after = {(i, k): a for i, st in enumerate(status.state.rules) for k, a in st.alerts.items()}
        out: list[Transition] = []
        for ident in sorted(set(before) | set(after)):
            old, new = before.get(ident), after.get(ident)
            frm, to = _alert_state(old), _alert_state(new)
            if frm == to:
                continue
            a = new or old
            assert a is not None
            rule = status.group.rules[ident[0]]
            out.append(Transition(group_key(status.group), rule.name, fingerprint(a.labels), dict(a.labels), frm,
                                  to, t_ms, a.value))
        return out
