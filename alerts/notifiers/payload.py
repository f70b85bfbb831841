"""What every channel derives from a :class:`~contracts.notify.Notification`.

* :func:`webhook_body` — Alertmanager's webhook JSON (``version: "4"``) exactly: ``receiver``, ``status``,
  ``alerts[]`` (``status``, ``labels``, ``annotations``, ``startsAt``, ``endsAt``, ``generatorURL``,
  ``fingerprint``), ``groupLabels``, ``commonLabels``, ``commonAnnotations``, ``externalURL``,
  ``groupKey``, ``truncatedAlerts``. Times are RFC 3339 UTC; a firing alert's ``endsAt`` is Go's zero time.
* :func:`template_data` — the ``.`` of notification templates (Alertmanager's ``template.Data``):
  ``.Receiver``, ``.Status``, ``.Alerts`` (with ``.Alerts.Firing`` / ``.Alerts.Resolved``), each alert's
  ``.Status .Labels .Annotations .StartsAt .EndsAt .GeneratorURL .Fingerprint``, ``.GroupLabels``,
  ``.CommonLabels``, ``.CommonAnnotations``, ``.ExternalURL``.
* :func:`render_or` — a configured template rendered with that data, or the built-in text when none is
  configured or it fails (a broken template must not lose the notification; the failure is logged).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, ClassVar

from alerts.templating import TemplateError, render
from contracts.notify import AlertInstance, Notification

log = logging.getLogger("vigil.alerts.notify")
ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339(unix_s: float) -> str:
    """``unix_s`` as RFC 3339 UTC with milliseconds, or Go's zero time for 0."""
    if unix_s <= 0:
        return ZERO_TIME
    return datetime.fromtimestamp(unix_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    out = dict(maps[0])
    for m in maps[1:]:
        out = {k: v for k, v in out.items() if m.get(k) == v}
    return out


def common_labels(n: Notification) -> dict[str, str]:
    """Labels every alert of ``n`` shares."""
    return _common([a.labels for a in n.alerts])


def common_annotations(n: Notification) -> dict[str, str]:
    """Annotations every alert of ``n`` shares."""
    return _common([a.annotations for a in n.alerts])


def _alert_json(a: AlertInstance, external_url: str) -> dict[str, Any]:
    return {"status": a.status, "labels": dict(a.labels), "annotations": dict(a.annotations),
            "startsAt": rfc3339(a.starts_at), "endsAt": rfc3339(a.ends_at if a.status == "resolved" else 0),
            "generatorURL": alert_url(external_url), "fingerprint": a.fingerprint}


def alert_url(external_url: str) -> str:
    """Where an alert links to: the dashboard's alerts page (empty without an external URL)."""
    return external_url.rstrip("/") + "/#/alerts" if external_url else ""


def webhook_body(n: Notification, max_alerts: int = 0) -> dict[str, Any]:
    """Alertmanager's webhook payload for ``n``; ``max_alerts`` > 0 truncates ``alerts`` (counted)."""
    alerts = list(n.alerts)
    kept = alerts[:max_alerts] if max_alerts > 0 else alerts
    return {"receiver": n.receiver, "status": n.status,
            "alerts": [_alert_json(a, n.external_url) for a in kept],
            "groupLabels": dict(n.group_labels), "commonLabels": common_labels(n),
            "commonAnnotations": common_annotations(n), "externalURL": n.external_url, "version": "4",
            "groupKey": n.group_key, "truncatedAlerts": len(alerts) - len(kept)}


class AlertData:
    """One alert as templates see it (``template.Alert``)."""

    go_fields: ClassVar[dict[str, str]] = {
        "Status": "status", "Labels": "labels", "Annotations": "annotations", "StartsAt": "starts_at",
        "EndsAt": "ends_at", "GeneratorURL": "generator_url", "Fingerprint": "fingerprint"}

    def __init__(self, a: AlertInstance, external_url: str) -> None:  # noqa: D107
        self.status, self.labels, self.annotations = a.status, dict(a.labels), dict(a.annotations)
        self.starts_at = rfc3339(a.starts_at)
        self.ends_at = rfc3339(a.ends_at if a.status == "resolved" else 0)
        self.generator_url, self.fingerprint = alert_url(external_url), a.fingerprint


class AlertList(list[AlertData]):
    """``.Alerts``: a list that also has ``.Firing`` and ``.Resolved``."""

    go_fields: ClassVar[dict[str, str]] = {"Firing": "firing", "Resolved": "resolved"}

    @property
    def firing(self) -> list[AlertData]:  # noqa: D102
        return [a for a in self if a.status == "firing"]

    @property
    def resolved(self) -> list[AlertData]:  # noqa: D102
        return [a for a in self if a.status == "resolved"]


class TemplateData:
    """The ``.`` of a notification template (``template.Data``)."""

    go_fields: ClassVar[dict[str, str]] = {
        "Receiver": "receiver", "Status": "status", "Alerts": "alerts", "GroupLabels": "group_labels",
        "CommonLabels": "common_labels", "CommonAnnotations": "common_annotations", "ExternalURL": "external_url"}

    def __init__(self, n: Notification) -> None:  # noqa: D107
        self.receiver, self.status, self.external_url = n.receiver, n.status, n.external_url
        self.alerts = AlertList(AlertData(a, n.external_url) for a in n.alerts)
        self.group_labels = dict(n.group_labels)
        self.common_labels, self.common_annotations = common_labels(n), common_annotations(n)


def template_data(n: Notification) -> TemplateData:
    """The template data of ``n``."""
    return TemplateData(n)


def render_or(template: str | None, n: Notification, default: str, what: str) -> str:
    """``template`` rendered for ``n``, or ``default`` when it is empty or fails (logged, naming ``what``)."""
    if not template:
        return default
    try:
        return render(template, template_data(n), name=what, external_url=n.external_url)
    except TemplateError as exc:
        log.warning("notification template %s failed, using the default: %s", what, exc)
        return default


def title(n: Notification) -> str:
    """The one-line summary of ``n``: ``[FIRING:2] HighErrorRate payments`` (group label values)."""
    firing = sum(1 for a in n.alerts if a.status == "firing")
    head = f"[FIRING:{firing}]" if n.status == "firing" else "[RESOLVED]"
    names = sorted({a.labels.get("alertname", "") for a in n.alerts} - {""})
    rest = [v for k, v in sorted(n.group_labels.items()) if k != "alertname"]
    return " ".join([head, ", ".join(names) or "alert", *rest]).strip()


def summary_of(a: AlertInstance) -> str:
    """An alert's one-line text: its ``summary`` annotation, else ``description``, else its name."""
    return a.annotations.get("summary") or a.annotations.get("description") or a.labels.get("alertname", "alert")
