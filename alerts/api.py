"""The alerting HTTP API, mounted by the composition root when the ``alerts`` module runs.

Vigil's endpoints (JSON):

* ``GET /api/rules`` — every group with its rules, last evaluation, duration, health and last error,
  plus the problems of refused rule files; ``POST /api/rules/reload`` reloads the files (400 with the
  problems when the new set is refused — the previous one keeps running).
* ``GET /api/alerts`` — active (pending, firing) alerts: state, value, since, labels, annotations,
  fingerprint and acknowledgement; ``GET /api/alerts/history?fingerprint=&limit=`` — transitions;
  ``GET /api/alerts/deliveries?receiver=&limit=`` — the notification delivery log, one row per attempt.
* ``POST /api/alerts/acknowledge`` ``{"fingerprint", "comment"?, "expires_in_s"?}`` — who is the caller's
  token (audited); stops repeats and escalation until the alert resolves or the ack expires.
* ``GET /api/silences``, ``POST /api/silences`` (Alertmanager API v2's silence body: ``matchers`` of
  ``{name, value, isRegex, isEqual}``, ``startsAt``/``endsAt`` RFC 3339 or unix seconds, ``createdBy``,
  ``comment``), ``DELETE /api/silences/{id}`` (expires it).

Prometheus' formats for Grafana: ``GET /api/v1/rules`` and ``GET /api/v1/alerts`` (2.42's JSON).
State-changing routes need the editor role (the app-wide rule for non-GET methods).
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import Dependency, Parameter

from alerts.evaluator import GroupStatus, group_key
from alerts.fingerprint import fingerprint
from alerts.ruleeval import FIRING, PENDING
from alerts.scheduler import AlertScheduler
from contracts.alerting import Ack
from query.apm.dashboard_models import ActiveAlert as DashboardAlert
from query.apm.dashboard_models import AlertSummary
from query.auth import Auditor, principal
from query.errors import BadRequest
from query.promql.exprtest import go_e

Scheduler = Annotated[AlertScheduler, Dependency(skip_validation=True)]
_OPS = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}


def _rfc3339(ms: int | None) -> str:
    if not ms:
        return "0001-01-01T00:00:00Z"
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _go_float(v: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'e', -1, 64)``, as ``/api/v1/alerts`` writes alert values."""
    text = go_e(v)
    return text if text in ("NaN", "+Inf", "-Inf") else text.replace("E", "e")


def _active(scheduler: AlertScheduler) -> list[tuple[GroupStatus, int, Any]]:
    out: list[tuple[GroupStatus, int, Any]] = []
    for status in scheduler.evaluator.groups.values():
        for i, alerts in enumerate(status.alerts):
            out.extend((status, i, a) for a in alerts if a.state in (PENDING, FIRING))
    return out


def _rule_json(status: GroupStatus, i: int) -> dict[str, Any]:
    rule = status.group.rules[i]
    st = status.state.rules[i] if i < len(status.state.rules) else None
    err = st.last_error if st is not None else None
    health = "unknown" if not status.last_evaluation_ms else ("err" if err else "ok")
    doc: dict[str, Any] = {"name": rule.name, "query": rule.expr, "labels": rule.labels, "health": health,
                           "lastError": err or "", "evaluationTime": status.last_duration_s,
                           "lastEvaluation": _rfc3339(status.last_evaluation_ms), "type":
                           "alerting" if rule.kind == "alert" else "recording"}
    if rule.kind == "alert":
        alerts = status.alerts[i] if i < len(status.alerts) else []
        states = {a.state for a in alerts}
        doc.update({"duration": rule.for_ms / 1000, "keepFiringFor": rule.keep_firing_for_ms / 1000,
                    "annotations": rule.annotations,
                    "state": FIRING if FIRING in states else (PENDING if PENDING in states else "inactive"),
                    "alerts": [_alert_json(a) for a in alerts]})
    return doc


def _alert_json(a: Any) -> dict[str, Any]:
    return {"labels": a.labels, "annotations": a.annotations, "state": a.state,
            "activeAt": _rfc3339(a.active_at_ms), "value": _go_float(a.value)}


def _time_ms(value: Any, field: str) -> int:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return int(value * 1000)
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            pass
    raise BadRequest("must be RFC 3339 or unix seconds", field)


def _matchers(raw: Any) -> list[list[str]]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest("must be a non-empty list of {name, value, isRegex, isEqual}", "matchers")
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not isinstance(m.get("value"), str):
            raise BadRequest("needs string name and value", f"matchers[{i}]")
        if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", m["name"]):
            raise BadRequest("is not a valid label name", f"matchers[{i}].name")
        op = _OPS[(bool(m.get("isRegex", False)), bool(m.get("isEqual", True)))]
        if op in ("=~", "!~"):
            try:
                re.compile(m["value"])
            except re.error as exc:
                raise BadRequest(f"invalid regular expression: {exc}", f"matchers[{i}].value") from None
        out.append([m["name"], op, m["value"]])
    if all((op in ("=", "=~") and v == "") or op in ("!=", "!~") for _, op, v in out):
        raise BadRequest("at least one matcher must select something (a non-empty = or =~)", "matchers")
    return out


def _silence_json(s: Any, now_ms: int) -> dict[str, Any]:
    return {"id": s.id, "matchers": [{"name": n, "value": v, "isRegex": op in ("=~", "!~"),
                                      "isEqual": op in ("=", "=~")} for n, op, v in s.matchers],
            "startsAt": _rfc3339(s.starts_at_ms), "endsAt": _rfc3339(s.ends_at_ms), "createdBy": s.created_by,
            "comment": s.comment, "status": {"state": s.state(now_ms)}}


def alert_summary(scheduler: AlertScheduler) -> AlertSummary:
    """The evaluator's pending and firing alerts for ``/api/dashboard`` (firing first)."""
    active = [DashboardAlert(name=a.labels.get("alertname", ""), state=a.state, severity=a.labels.get("severity", ""),
                             since_unix_nano=a.active_at_ms * 1_000_000, labels=dict(a.labels))
              for _, _, a in _active(scheduler)]
    active.sort(key=lambda a: (a.state != FIRING, a.since_unix_nano))
    return AlertSummary(evaluating=scheduler.leader, active=active)


class AlertingController(Controller):
    """Rules, alerts, acknowledgements and silences."""

    tags = ["alerting"]

    @get("/api/rules", sync_to_thread=False, summary="Alerting and recording rules")
    def rules(self, alerting: Scheduler) -> dict[str, Any]:
        """Groups and rules with their last evaluation and health; problems of refused rule files."""
        groups = [{"name": s.group.name, "file": s.group.file, "key": group_key(s.group),
                   "interval_s": s.interval_ms / 1000, "rules": [_rule_json(s, i) for i in range(len(s.group.rules))],
                   "lastEvaluation": _rfc3339(s.last_evaluation_ms), "evaluationTime": s.last_duration_s}
                  for s in alerting.evaluator.groups.values()]
        return {"groups": groups, "rule_file_problems": alerting.rules.problems, "leader": alerting.leader}

    @post("/api/rules/reload", sync_to_thread=True, summary="Reload the rule files", status_code=200)
    def reload(self, request: Request[Any, Any, Any], alerting: Scheduler, audit: Auditor) -> Response[dict[str, Any]]:
        """Reload now; 400 with the problems when the new set is refused (the old set stays)."""
        ok = alerting.reload_now()
        audit(request, "rules.reload", str(alerting.rules.path), {"ok": ok})
        body = {"reloaded": ok, "groups": len(alerting.rules.groups), "problems": alerting.rules.problems}
        return Response(body, status_code=200 if ok else 400)

    @get("/api/alerts", sync_to_thread=True, summary="Active alerts")
    def alerts(self, alerting: Scheduler) -> dict[str, Any]:
        """Pending and firing alerts with value, since, fingerprint and acknowledgement."""
        acks = alerting.evaluator.repo.acks()
        now_ms = int(time.time() * 1000)
        out = []
        for status, _, a in _active(alerting):
            fp = fingerprint(a.labels)
            ack = acks.get(fp)
            out.append({"fingerprint": fp, "alertname": a.labels.get("alertname", ""), "state": a.state,
                        "labels": a.labels, "annotations": a.annotations, "value": a.value,
                        "active_at_ms": a.active_at_ms, "fired_at_ms": a.fired_at_ms, "group": group_key(status.group),
                        "ack": None if ack is None or not ack.active(now_ms) else
                        {"by": ack.by, "at_ms": ack.at_ms, "expires_at_ms": ack.expires_at_ms or None,
                         "comment": ack.comment}})
        out.sort(key=lambda x: (x["state"] != FIRING, x["active_at_ms"], x["fingerprint"]))
        return {"alerts": out}

    @get("/api/alerts/history", sync_to_thread=True, summary="Alert history")
    def history(self, alerting: Scheduler, fingerprint_: Annotated[str, Parameter(query="fingerprint")] = "",
                limit: Annotated[int, Parameter(ge=1, le=10_000)] = 100) -> dict[str, Any]:
        """State transitions, newest first."""
        rows = alerting.evaluator.repo.history(limit, fingerprint_)
        return {"transitions": [{"group": t.group, "alertname": t.rule, "fingerprint": t.fingerprint,
                                 "labels": t.labels, "from": t.from_state, "to": t.to_state, "at_ms": t.at_ms,
                                 "value": t.value} for t in rows]}

    @get("/api/alerts/deliveries", sync_to_thread=True, summary="Notification delivery log")
    def deliveries(self, alerting: Scheduler, receiver: str = "",
                   limit: Annotated[int, Parameter(ge=1, le=10_000)] = 100) -> dict[str, Any]:
        """Every attempt to deliver a notification, newest first: outcome ``ok``/``retry``/``failed``."""
        rows = alerting.evaluator.repo.deliveries(limit, receiver)
        return {"deliveries": [{"receiver": d.receiver, "integration": d.integration, "group_key": d.group_key,
                                "attempt": d.attempt, "at_ms": d.at_ms, "duration_ms": round(d.duration_ms, 3),
                                "outcome": d.outcome, "error": d.error} for d in rows]}

    @post("/api/alerts/acknowledge", sync_to_thread=True, summary="Acknowledge an alert", status_code=200)
    def acknowledge(self, request: Request[Any, Any, Any], alerting: Scheduler, audit: Auditor,
                    data: dict[str, Any]) -> dict[str, Any]:
        """Acknowledge ``fingerprint`` (an active alert's); optional ``comment`` and ``expires_in_s``."""
        fp = data.get("fingerprint")
        if not isinstance(fp, str) or not re.fullmatch(r"[0-9a-f]{16}", fp):
            raise BadRequest("must be an alert fingerprint (16 hex digits)", "fingerprint")
        if fp not in {fingerprint(a.labels) for _, _, a in _active(alerting)}:
            raise BadRequest("no active alert has this fingerprint", "fingerprint")
        expires = data.get("expires_in_s", 0)
        if isinstance(expires, bool) or not isinstance(expires, (int, float)) or not 0 <= expires <= 30 * 86400:
            raise BadRequest("must be seconds between 0 (until resolved) and 30 days", "expires_in_s")
        comment = data.get("comment", "")
        if not isinstance(comment, str) or len(comment) > 1000:
            raise BadRequest("must be a string of at most 1000 characters", "comment")
        now_ms = int(time.time() * 1000)
        who = principal(request).actor
        ack = Ack(fp, who, now_ms, now_ms + int(expires * 1000) if expires else 0, comment)
        alerting.evaluator.repo.acknowledge(ack)
        audit(request, "alert.acknowledge", fp, {"expires_in_s": expires})
        return {"fingerprint": fp, "by": who, "at_ms": now_ms, "expires_at_ms": ack.expires_at_ms or None}

    @get("/api/silences", sync_to_thread=True, summary="Silences")
    def silences(self, alerting: Scheduler) -> list[dict[str, Any]]:
        """Every silence (active, pending, expired), newest first, in Alertmanager API v2's shape."""
        now_ms = int(time.time() * 1000)
        return [_silence_json(s, now_ms) for s in alerting.evaluator.repo.silences()]

    @post("/api/silences", sync_to_thread=True, summary="Create a silence", status_code=200)
    def add_silence(self, request: Request[Any, Any, Any], alerting: Scheduler, audit: Auditor,
                    data: dict[str, Any]) -> dict[str, Any]:
        """Create a silence; answers ``{"silenceID": …}`` as Alertmanager does."""
        matchers = _matchers(data.get("matchers"))
        now_ms = int(time.time() * 1000)
        starts = _time_ms(data["startsAt"], "startsAt") if "startsAt" in data else now_ms
        if "endsAt" not in data:
            raise BadRequest("is required", "endsAt")
        ends = _time_ms(data["endsAt"], "endsAt")
        if ends <= starts or ends <= now_ms:
            raise BadRequest("must be after startsAt and in the future", "endsAt")
        comment = data.get("comment", "")
        if not isinstance(comment, str) or len(comment) > 1000:
            raise BadRequest("must be a string of at most 1000 characters", "comment")
        who = principal(request).actor
        s = alerting.evaluator.repo.add_silence(matchers, starts, ends, who, comment, now_ms)
        audit(request, "silence.create", s.id, {"matchers": matchers, "ends_at_ms": ends})
        return {"silenceID": s.id}

    @delete("/api/silences/{silence_id:str}", sync_to_thread=True, summary="Expire a silence", status_code=200)
    def expire_silence(self, request: Request[Any, Any, Any], alerting: Scheduler, audit: Auditor,
                       silence_id: str) -> dict[str, Any]:
        """End the silence now."""
        s = alerting.evaluator.repo.expire_silence(silence_id, int(time.time() * 1000))
        if s is None:
            raise BadRequest("no such silence", "silence_id")
        audit(request, "silence.expire", silence_id)
        return _silence_json(s, int(time.time() * 1000))

    @get("/api/v1/rules", sync_to_thread=False, summary="Rules (Prometheus API)")
    def prom_rules(self, alerting: Scheduler, type_: Annotated[str, Parameter(query="type")] = "") -> dict[str, Any]:
        """Prometheus 2.42's ``/api/v1/rules`` (``type=alert|record`` filters)."""
        groups = []
        for s in alerting.evaluator.groups.values():
            rules = [_rule_json(s, i) for i in range(len(s.group.rules))]
            if type_ in ("alert", "record"):
                rules = [r for r in rules if r["type"] == ("alerting" if type_ == "alert" else "recording")]
            groups.append({"name": s.group.name, "file": s.group.file, "rules": rules,
                           "interval": s.interval_ms / 1000, "limit": s.group.limit,
                           "evaluationTime": s.last_duration_s, "lastEvaluation": _rfc3339(s.last_evaluation_ms)})
        return {"status": "success", "data": {"groups": groups}}

    @get("/api/v1/alerts", sync_to_thread=False, summary="Alerts (Prometheus API)")
    def prom_alerts(self, alerting: Scheduler) -> dict[str, Any]:
        """Prometheus 2.42's ``/api/v1/alerts``: every pending and firing alert."""
        return {"status": "success", "data": {"alerts": [_alert_json(a) for _, _, a in _active(alerting)]}}
