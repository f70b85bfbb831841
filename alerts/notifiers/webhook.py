"""The webhook channel: Alertmanager's webhook JSON, custom headers, optional HMAC signature.

Configured by one ``webhook_configs`` entry (``url``/``url_file``, ``max_alerts``, ``http_config``,
``send_resolved`` default true) plus Vigil's keys ``vigil_headers`` (extra request headers) and
``vigil_hmac_secret``/``vigil_hmac_secret_file``. With a secret, each request carries

* ``X-Vigil-Timestamp``: unix seconds of the request, and
* ``X-Vigil-Signature``: ``sha256=`` + hex HMAC-SHA256 of ``<timestamp>.<body bytes>`` with the secret,

so a receiver can authenticate the body and refuse replays (:func:`verify_signature` is the reference).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

from alerts.notifiers.http import HttpClient, auth_headers, client_options, post_json
from alerts.notifiers.payload import webhook_body
from contracts.notify import Notification

SIGNATURE_HEADER, TIMESTAMP_HEADER = "X-Vigil-Signature", "X-Vigil-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Vigil-Signature`` value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str, now_s: float | None = None,
                     tolerance_s: float = 300.0) -> bool:
    """Whether ``signature`` is valid for ``body`` and ``timestamp`` is within ``tolerance_s`` of now."""
    try:
        ts = float(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now_s is None else now_s) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookNotifier:
    """One webhook integration."""

    kind = "webhook"

    def __init__(self, cfg: dict[str, Any]) -> None:
        """Build from a ``webhook_configs`` entry (validated by ``alerts.amconfig``)."""
        self.url = str(cfg.get("url") or Path(str(cfg["url_file"])).read_text().strip())
        self.max_alerts = int(cfg.get("max_alerts") or 0)
        self.send_resolved = bool(cfg.get("send_resolved", True))
        secret_file = cfg.get("vigil_hmac_secret_file")
        self.secret = str(cfg.get("vigil_hmac_secret") or (Path(str(secret_file)).read_text().strip()
                                                           if secret_file else ""))
        self.headers = {str(k): str(v) for k, v in (cfg.get("vigil_headers") or {}).items()}
        self.headers.update(auth_headers(cfg.get("http_config")))
        self.client = HttpClient(client_options(cfg.get("http_config")))

    async def send(self, notification: Notification) -> None:
        """POST the notification; raises ``NotifyError`` (retryable for 429/5xx/transport errors)."""
        body = json.dumps(webhook_body(notification, self.max_alerts), separators=(",", ":")).encode()
        headers = dict(self.headers)
        if self.secret:
            ts = str(int(time.time()))
            headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER] = ts, sign(self.secret, ts, body)
        await post_json(self.url, body, headers, self.client)
