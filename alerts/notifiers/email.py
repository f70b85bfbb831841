"""The e-mail channel: SMTP with STARTTLS and authentication, as Alertmanager's ``email_configs``.

Configured by one ``email_configs`` entry with the ``global`` ``smtp_*`` defaults: ``to`` (comma-separated),
``from``, ``smarthost`` (``host:port``), ``hello``, ``auth_username``, ``auth_password``/``_file``,
``require_tls`` (default true), ``tls_config`` (``insecure_skip_verify``, ``ca_file``), ``headers``,
``html``, ``text``, ``send_resolved`` (default false). Port 465 speaks TLS from the start; otherwise the
session upgrades with STARTTLS when the server offers it, and with ``require_tls`` a server that does not is
an error (the message is never sent in clear). The message is ``multipart/alternative`` (text and HTML);
every telemetry value in the HTML is escaped. ``html``/``text``/``headers`` values are Go templates.

SMTP answers 5xx (and authentication failures) are permanent; 4xx answers and connection errors are
retryable. Sending blocks, so it runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import html
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from alerts.notifiers.payload import alert_url, render_or, rfc3339, summary_of, title
from contracts.notify import Notification, NotifyError

TIMEOUT_S = 15.0


def _text(n: Notification) -> str:
    lines = [title(n), ""]
    for a in n.alerts:
        lines.append(f"[{a.status.upper()}] {a.labels.get('alertname', 'alert')}: {summary_of(a)}")
        lines += [f"  {k} = {v}" for k, v in sorted(a.labels.items())]
        lines.append(f"  since {rfc3339(a.starts_at)}" + (f", resolved {rfc3339(a.ends_at)}"
                                                           if a.status == "resolved" else ""))
        lines.append("")
    link = alert_url(n.external_url)
    return "\n".join(lines + ([f"Open in Vigil: {link}"] if link else []))


def _html(n: Notification) -> str:
    e = html.escape
    rows = []
    for a in n.alerts:
        labels = ", ".join(f"{e(k)}={e(v)}" for k, v in sorted(a.labels.items()))
        rows.append(f"<tr><td>{e(a.status)}</td><td>{e(a.labels.get('alertname', ''))}</td>"
                    f"<td>{e(summary_of(a))}</td><td>{labels}</td><td>{e(rfc3339(a.starts_at))}</td></tr>")
    link = alert_url(n.external_url)
    foot = f'<p><a href="{e(link)}">Open in Vigil</a></p>' if link else ""
    return (f"<!doctype html><html><body><h2>{e(title(n))}</h2><table border=\"1\" cellpadding=\"4\">"
            "<tr><th>Status</th><th>Alert</th><th>Summary</th><th>Labels</th><th>Since</th></tr>"
            f"{''.join(rows)}</table>{foot}</body></html>")


class EmailNotifier:
    """One e-mail integration."""

    kind = "email"

    def __init__(self, cfg: dict[str, Any], global_: dict[str, Any]) -> None:
        """Build from an ``email_configs`` entry and the ``global`` section (validated by ``alerts.amconfig``)."""
        def pick(key: str, gkey: str, default: Any = None) -> Any:
            return cfg[key] if key in cfg else global_.get(gkey, default)

        self.cfg = cfg
        self.to = str(cfg["to"])
        self.sender = str(pick("from", "smtp_from"))
        host, _, port = str(pick("smarthost", "smtp_smarthost")).rpartition(":")
        self.host, self.port = host.strip("[]"), int(port or 25)
        self.hello = str(pick("hello", "smtp_hello", "localhost"))
        self.username = str(pick("auth_username", "smtp_auth_username", "") or "")
        pw_file = pick("auth_password_file", "smtp_auth_password_file")
        self.password = str(pick("auth_password", "smtp_auth_password", "") or
                            (Path(str(pw_file)).read_text().strip() if pw_file else ""))
        self.require_tls = bool(pick("require_tls", "smtp_require_tls", True))
        tls = cfg.get("tls_config") or {}
        self.tls = ssl.create_default_context(cafile=tls.get("ca_file"))
        if tls.get("insecure_skip_verify"):
            self.tls.check_hostname, self.tls.verify_mode = False, ssl.CERT_NONE
        self.send_resolved = bool(cfg.get("send_resolved", False))

    def message(self, n: Notification) -> EmailMessage:
        """The e-mail of ``n``."""
        msg = EmailMessage()
        headers = {"Subject": title(n), "To": self.to, "From": self.sender,
                   **{str(k): render_or(str(v), n, str(v), f"email header {k}")
                      for k, v in (self.cfg.get("headers") or {}).items()}}
        for k, v in headers.items():
            msg[k] = v.replace("\r", " ").replace("\n", " ")
        msg["Date"] = formatdate(time.time(), localtime=False)
        msg["Message-Id"] = make_msgid(domain=self.hello)
        msg.set_content(render_or(self.cfg.get("text"), n, _text(n), "email text"))
        msg.add_alternative(render_or(self.cfg.get("html"), n, _html(n), "email html"), subtype="html")
        return msg

    def _deliver(self, msg: EmailMessage) -> None:
        smtp: smtplib.SMTP
        if self.port == 465:
            smtp = smtplib.SMTP_SSL(self.host, self.port, local_hostname=self.hello, timeout=TIMEOUT_S,
                                    context=self.tls)
        else:
            smtp = smtplib.SMTP(self.host, self.port, local_hostname=self.hello, timeout=TIMEOUT_S)
        with smtp:
            smtp.ehlo()
            if self.port != 465:
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=self.tls)
                    smtp.ehlo()
                elif self.require_tls:
                    raise NotifyError(f"require_tls: true (default), but {self.host}:{self.port} does not "
                                      "advertise the STARTTLS extension", retryable=False)
            if self.username:
                self._login(smtp)
            smtp.send_message(msg, from_addr=self.sender,
                              to_addrs=[a.strip() for a in self.to.split(",") if a.strip()])

    def _login(self, smtp: smtplib.SMTP) -> None:
        """One mechanism, as Alertmanager: PLAIN when offered, else LOGIN (smtplib would try them all)."""
        mechs = (smtp.esmtp_features.get("auth") or "").upper().split()
        smtp.user, smtp.password = self.username, self.password
        if "PLAIN" in mechs:
            smtp.auth("PLAIN", smtp.auth_plain)
        elif "LOGIN" in mechs:
            smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)
        else:
            smtp.login(self.username, self.password)

    async def send(self, notification: Notification) -> None:
        """Send the e-mail; raises ``NotifyError`` (see the module docstring for which are retryable)."""
        msg = self.message(notification)
        try:
            await asyncio.to_thread(self._deliver, msg)
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifyError(f"SMTP authentication failed: {exc.smtp_code}", retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            raise NotifyError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retryable=exc.smtp_code < 500) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise NotifyError(f"SMTP recipients refused: {sorted(exc.recipients)}", retryable=False) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(f"SMTP: {type(exc).__name__}: {exc}", retryable=True) from None
