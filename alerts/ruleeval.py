"""Evaluation of Prometheus rule groups (``rules/manager.go``, ``alerting.go``, ``recording.go`` of 2.42).

:func:`eval_group` evaluates every rule of a :class:`~alerts.rulefile.RuleGroup` once, at ``t_ms``, over
any :class:`~query.promql.model.SampleSource` through an :class:`~query.promql.engine.Engine`, in rule
order. Each rule's output is handed to ``append`` *before* the next rule runs (Prometheus commits one
appender per rule), so later rules, later groups and later times see recording-rule results. Contracts,
as Prometheus 2.42 behaves:

* recording rule: the query's samples (a scalar becomes one sample without labels) renamed to the rule
  name with the rule's labels set (an empty value removes a label). Two equal output label sets are the
  error ``vector contains metrics with the same labelset after applying rule labels``; more than the
  group's ``limit`` series is ``exceeded limit of L with N series``.
* alerting rule: each result sample becomes an alert keyed by its labels (``__name__`` dropped, rule
  labels expanded as templates and set, ``alertname`` set; annotations expanded). A new alert is
  ``pending`` with ``active_at = t``; it turns ``firing`` at the first evaluation with ``t - active_at >=
  for``. An alert missing from the result is dropped when pending; a firing one becomes ``inactive``
  with ``resolved_at = t`` (kept 15 minutes, :data:`RESOLVED_RETENTION_MS`), unless ``keep_firing_for``
  holds it firing until ``t - keep_firing_since >= keep_firing_for`` (2.42 has ``keep_firing_for``).
  Every pending or firing alert writes ``ALERTS{alertname, alertstate, …} 1`` and
  ``ALERTS_FOR_STATE{alertname, …} <active_at in whole seconds>``, whose labels are the rule's *raw*
  labels overlaid with the alert's (as 2.42 builds them). A template failure becomes the value
  ``<error expanding template: …>`` (:func:`alerts.templating.expand_alert`), never an error.
* a series a rule wrote at its previous evaluation and not now gets a staleness marker at ``t``.
* errors (query errors, the two above, an appender's refusal) are kept in
  :attr:`RuleState.last_error` (``None`` after a clean evaluation), as ``Rule.LastError()``. A rule whose
  query fails writes nothing and keeps its previous series for staleness.

State is plain dataclasses (:class:`GroupState` → :class:`RuleState` → :class:`ActiveAlert`) holding only
strings, numbers, lists and dicts with string keys, so ``dataclasses.asdict`` serialises it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import promql_parser as pp

from alerts.rulefile import Rule, RuleGroup
from query.promql.engine import Engine
from query.promql.memstore import MemoryStore
from query.promql.model import NAME, STALE_NAN, Labels, PromQLError, Scalar, Vector, labels_of
from query.promql.parse import parse

RESOLVED_RETENTION_MS = 15 * 60_000
PENDING, FIRING, INACTIVE = "pending", "firing", "inactive"

Sample = tuple[Labels, int, float]
Appender = Callable[[Labels, int, float], str | None]
"""Appends one sample; returns ``None`` or the storage's error (``duplicate sample for timestamp`` …)."""


@dataclass
class ActiveAlert:
    """One alert of an alerting rule (``rules.Alert``); times in ms, ``None`` for Go's zero time."""

    labels: dict[str, str]
    annotations: dict[str, str]
    state: str
    active_at_ms: int
    value: float
    fired_at_ms: int | None = None
    resolved_at_ms: int | None = None
    keep_firing_since_ms: int | None = None

    def label_set(self) -> Labels:
        """The alert's labels as a canonical label set."""
        return labels_of(self.labels)


@dataclass
class RuleState:
    """What one rule remembers between evaluations."""

    alerts: dict[str, ActiveAlert] = field(default_factory=dict)  # keyed by :func:`label_key`
    previous_series: list[list[list[str]]] = field(default_factory=list)  # label sets written last time
    last_error: str | None = None


@dataclass
class GroupState:
    """The state of a group's rules, by rule index."""

    rules: list[RuleState] = field(default_factory=list)


def label_key(labels: Labels) -> str:
    """A string key identifying a label set (JSON of its sorted pairs)."""
    return json.dumps(labels, ensure_ascii=False, separators=(",", ":"))


@functools.lru_cache(maxsize=4096)
def _parsed(expr: str) -> pp.Expr:
    return parse(expr)


def query_samples(engine: Engine, expr: str, t_ms: int) -> list[tuple[Labels, float]]:
    """``expr`` at ``t_ms`` as rule samples: a vector's present samples, or a scalar as one sample.

    Raises :class:`PromQLError`; a string or range-vector result is ``rule result is not a vector or scalar``.
    """
    value = engine.instant(_parsed(expr), t_ms)
    if isinstance(value, Vector):
        return [(s.labels, float(s.values[0])) for s in value.series if bool(s.present[0])]
    if isinstance(value, Scalar):
        return [((), float(value.values[0]))]
    raise PromQLError("rule result is not a vector or scalar")


def _with(labels: Labels, overrides: Mapping[str, str]) -> Labels:
    """``labels.NewBuilder(labels).Set(k, v)…``: set each override, an empty value removes the label."""
    d = dict(labels)
    d.update(overrides)
    return labels_of(d)


class StoreAppender:
    """An :data:`Appender` over a :class:`MemoryStore` with the TSDB head's refusals.

    A sample older than the series' newest is ``out of order sample``; one at the newest timestamp with a
    different value (bit for bit) is ``duplicate sample for timestamp``; an identical one is accepted and
    ignored. Series first written outside this appender are unknown to it (treated as new).
    """

    def __init__(self, store: MemoryStore) -> None:  # noqa: D107
        self.store = store
        self._last: dict[Labels, tuple[int, bytes]] = {}

    def __call__(self, labels: Labels, t_ms: int, value: float) -> str | None:  # noqa: D102
        import struct

        bits = struct.pack("<d", value)
        last = self._last.get(labels)
        if last is not None:
            if t_ms < last[0]:
                return "out of order sample"
            if t_ms == last[0]:
                return None if bits == last[1] else "duplicate sample for timestamp"
        self._last[labels] = (t_ms, bits)
        self.store.add(labels, t_ms, value)
        return None


def _expander(engine: Engine, t_ms: int, external_labels: Mapping[str, str], external_url: str, name: str,
              nil_url_funcs: bool) -> Callable[[str, dict[str, str], float], str]:
    def query(q: str) -> list[object]:
        from alerts.templating import Sample as TSample

        return [TSample(dict(lab), v) for lab, v in query_samples(engine, q, t_ms)]

    def expand(text: str, labels: dict[str, str], value: float) -> str:
        if "{{" not in text:  # a template without actions is its text
            return text
        from alerts.templating import expand_alert

        return expand_alert(text, labels=labels, value=value, external_labels=external_labels,
                            external_url=external_url, name=name, query=query, nil_url_funcs=nil_url_funcs)
    return expand


def _fresh_alerts(rule: Rule, res: list[tuple[Labels, float]],
                  expand: Callable[[str, dict[str, str], float], str], t_ms: int) -> dict[str, ActiveAlert]:
    """The alerts of this evaluation's result, keyed by :func:`label_key` (templates expanded)."""
    fresh: dict[str, ActiveAlert] = {}
    for lab, v in res:
        tmpl_labels = dict(lab)
        overrides = {k: expand(text, tmpl_labels, v) for k, text in sorted(rule.labels.items())}
        overrides["alertname"] = rule.name
        out = _with(tuple(p for p in lab if p[0] != NAME), overrides)
        key = label_key(out)
        if key in fresh:
            raise PromQLError("vector contains metrics with the same labelset after applying alert labels")
        annotations = {k: expand(text, tmpl_labels, v) for k, text in sorted(rule.annotations.items())}
        fresh[key] = ActiveAlert(dict(out), annotations, PENDING, t_ms, v)
    return fresh


def _still_active(rule: Rule, st: RuleState, key: str, a: ActiveAlert, t_ms: int) -> bool:
    """An alert missing from the result: dropped, resolved, or kept firing (``keep_firing_for``)."""
    keep = False
    if a.state == FIRING and rule.keep_firing_for_ms > 0:
        if a.keep_firing_since_ms is None:
            a.keep_firing_since_ms = t_ms
        keep = t_ms - a.keep_firing_since_ms < rule.keep_firing_for_ms
    if a.state == PENDING or (a.resolved_at_ms is not None and t_ms - a.resolved_at_ms > RESOLVED_RETENTION_MS):
        del st.alerts[key]
    if a.state != INACTIVE and not keep:
        a.state, a.resolved_at_ms = INACTIVE, t_ms
    return keep


def _alerting(rule: Rule, st: RuleState, t_ms: int, engine: Engine, limit: int, external_labels: Mapping[str, str],
              external_url: str, nil_url_funcs: bool) -> list[tuple[Labels, float]]:
    """``AlertingRule.Eval``: update ``st.alerts``; the ALERTS / ALERTS_FOR_STATE samples to write."""
    res = query_samples(engine, rule.expr, t_ms)
    expand = _expander(engine, t_ms, external_labels, external_url, "__alert_" + rule.name, nil_url_funcs)
    fresh = _fresh_alerts(rule, res, expand, t_ms)
    for key, a in fresh.items():
        old = st.alerts.get(key)
        if old is not None and old.state != INACTIVE:
            old.value, old.annotations = a.value, a.annotations
        else:
            st.alerts[key] = a
    samples: list[tuple[Labels, float]] = []
    raw = labels_of(rule.labels)
    active = 0
    for key, a in list(st.alerts.items()):
        if key not in fresh:
            if not _still_active(rule, st, key, a, t_ms):
                continue
        else:
            a.keep_firing_since_ms = None
        active += 1
        if a.state == PENDING and t_ms - a.active_at_ms >= rule.for_ms:
            a.state, a.fired_at_ms = FIRING, t_ms
        samples.append((_with(raw, {**a.labels, NAME: "ALERTS", "alertname": rule.name, "alertstate": a.state}), 1.0))
        samples.append((_with(raw, {**a.labels, NAME: "ALERTS_FOR_STATE", "alertname": rule.name}),
                        float(a.active_at_ms // 1000)))
    if limit > 0 and active > limit:
        st.alerts.clear()
        raise PromQLError(f"exceeded limit of {limit} with {active} alerts")
    return samples


def _recording(rule: Rule, t_ms: int, engine: Engine, limit: int) -> list[tuple[Labels, float]]:
    """``RecordingRule.Eval``: the renamed and relabelled samples."""
    out = [(_with(lab, {NAME: rule.name, **rule.labels}), v) for lab, v in query_samples(engine, rule.expr, t_ms)]
    if len({lab for lab, _ in out}) != len(out):
        raise PromQLError("vector contains metrics with the same labelset after applying rule labels")
    if limit > 0 and len(out) > limit:
        raise PromQLError(f"exceeded limit of {limit} with {len(out)} series")
    return out


def eval_group(group: RuleGroup, t_ms: int, state: GroupState, engine: Engine, append: Appender, *,
               external_labels: Mapping[str, str] | None = None, external_url: str = "",
               nil_url_funcs: bool = False) -> tuple[list[Sample], list[list[ActiveAlert]]]:
    """Evaluate every rule of ``group`` at ``t_ms`` (see the module docstring), updating ``state``.

    Returns the samples written (staleness markers included, refused ones excluded) and, per rule index,
    the rule's alerts not yet resolved (pending or firing; empty for recording rules), as
    ``AlertingRule.ActiveAlerts()`` lists them. ``nil_url_funcs`` makes the templates' ``externalURL`` and
    ``pathPrefix`` fail as in ``promtool test rules``.
    """
    while len(state.rules) < len(group.rules):
        state.rules.append(RuleState())
    written: list[Sample] = []
    alerts: list[list[ActiveAlert]] = []
    for rule, st in zip(group.rules, state.rules, strict=False):
        try:
            if rule.kind == "alert":
                out = _alerting(rule, st, t_ms, engine, group.limit, external_labels or {}, external_url,
                                nil_url_funcs)
            else:
                out = _recording(rule, t_ms, engine, group.limit)
        except PromQLError as exc:
            st.last_error = exc.message
            alerts.append(_unresolved(st))
            continue
        st.last_error = None
        returned: dict[Labels, None] = {}
        for lab, v in out:
            err = append(lab, t_ms, v)
            if err is not None:
                st.last_error = err
            else:
                returned[lab] = None
                written.append((lab, t_ms, v))
        for prev in st.previous_series:
            lab = tuple((k, v) for k, v in prev)
            if lab not in returned and append(lab, t_ms, STALE_NAN) is None:
                written.append((lab, t_ms, STALE_NAN))
        st.previous_series = [[list(p) for p in lab] for lab in returned]
        alerts.append(_unresolved(st))
    return written, alerts


def _unresolved(st: RuleState) -> list[ActiveAlert]:
    return [a for a in st.alerts.values() if a.resolved_at_ms is None]
