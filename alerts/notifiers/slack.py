"""The Slack channel: an incoming-webhook message in Block Kit.

Configured by one ``slack_configs`` entry (``api_url``/``api_url_file`` or the global ``slack_api_url``/
``_file``; ``channel``, ``username``, ``icon_emoji``, ``icon_url``, ``title``, ``title_link``, ``text``,
``footer``, ``send_resolved`` default false). ``title``/``text``/``footer`` are Go templates over the
notification data (see :mod:`alerts.notifiers.payload`); Vigil's own wording is used when they are not set.

The message: ``text`` (the notification fallback and title), then blocks — a ``header`` (the title), one
``section`` per alert (up to :data:`MAX_ALERT_SECTIONS`, the rest counted in a context line) with the
alert's summary and its key labels as fields, a ``context`` (status, receiver, footer) and, with an
external URL, an ``actions`` block with a button to the dashboard. Every value is escaped for mrkdwn
(``&``, ``<``, ``>``) so telemetry cannot mention ``@channel`` or forge links, and cut to Block Kit's limits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alerts.notifiers.http import HttpClient, client_options, post_json
from alerts.notifiers.payload import alert_url, render_or, summary_of, title
from contracts.notify import AlertInstance, Notification

MAX_ALERT_SECTIONS = 10
FIELD_LABELS = ("severity", "service_name", "instance", "host_name", "team", "job")


def escape(text: str) -> str:
    """``text`` safe inside Slack mrkdwn/plain text (control characters ``& < >`` escaped)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis when cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _alert_section(a: AlertInstance) -> dict[str, Any]:
    icon = ":red_circle:" if a.status == "firing" else ":large_green_circle:"
    name = escape(a.labels.get("alertname", "alert"))
    text = f"{icon} *{name}* — {escape(summary_of(a))}"
    desc = a.annotations.get("description")
    if desc and desc != summary_of(a):
        text += "\n" + escape(desc)
    section: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, 3000)}}
    fields = [{"type": "mrkdwn", "text": cut(f"*{k}*\n{escape(a.labels[k])}", 2000)}
              for k in FIELD_LABELS if a.labels.get(k)]
    if fields:
        section["fields"] = fields[:10]
    return section


def blocks(n: Notification, head: str, text: str | None, footer: str, link: str) -> list[dict[str, Any]]:
    """The Block Kit blocks of ``n`` (see the module docstring)."""
    out: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": cut(head, 150)}}]
    if text:
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": cut(escape(text), 3000)}})
    else:
        out += [_alert_section(a) for a in n.alerts[:MAX_ALERT_SECTIONS]]
    notes = [f"*{n.status.upper()}*", f"receiver {escape(n.receiver)}"]
    if len(n.alerts) > MAX_ALERT_SECTIONS and not text:
        notes.append(f"and {len(n.alerts) - MAX_ALERT_SECTIONS} more alerts")
    if footer:
        notes.append(escape(footer))
    out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(t, 3000)} for t in notes]})
    if link:
        button = {"type": "button", "text": {"type": "plain_text", "text": "Open in Vigil"},
                  "url": cut(link, 3000), "action_id": "vigil-open"}
        out += [{"type": "divider"}, {"type": "actions", "elements": [button]}]
    return out


class SlackNotifier:
    """One Slack integration."""

    kind = "slack"

    def __init__(self, cfg: dict[str, Any], global_: dict[str, Any]) -> None:
        """Build from a ``slack_configs`` entry and the ``global`` section (validated by ``alerts.amconfig``)."""
        url = cfg.get("api_url") or global_.get("slack_api_url")
        url_file = cfg.get("api_url_file") or global_.get("slack_api_url_file")
        self.url = str(url or Path(str(url_file)).read_text().strip())
        self.cfg = cfg
        self.send_resolved = bool(cfg.get("send_resolved", False))
        self.client = HttpClient(client_options(cfg.get("http_config") or global_.get("http_config")))

    def message(self, n: Notification) -> dict[str, Any]:
        """The JSON message of ``n``."""
        c = self.cfg
        head = render_or(c.get("title"), n, title(n), "slack title")
        text = render_or(c.get("text"), n, "", "slack text") if c.get("text") else None
        footer = render_or(c.get("footer"), n, "", "slack footer")
        link = str(c.get("title_link") or alert_url(n.external_url))
        msg: dict[str, Any] = {"text": cut(escape(head), 3000), "blocks": blocks(n, head, text, footer, link)}
        for key in ("channel", "username", "icon_emoji", "icon_url"):
            if c.get(key):
                msg[key] = str(c[key])
        return msg

    async def send(self, notification: Notification) -> None:
        """POST the message; raises ``NotifyError`` (retryable for 429/5xx/transport errors)."""
        await post_json(self.url, self.message(notification), {}, self.client)
