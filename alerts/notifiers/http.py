"""HTTP delivery shared by the webhook and Slack channels.

:func:`post_json` POSTs a JSON body and maps the outcome to the notify contract: a 2xx answer is
delivered; 429, 5xx and transport errors raise a retryable :class:`~contracts.notify.NotifyError`; any
other answer raises a non-retryable one (a 4xx will not improve by trying again). Error messages name the
status and a bounded piece of the answer, never the URL (incoming-webhook URLs are secrets).
:func:`auth_headers` turns an Alertmanager ``http_config`` (``basic_auth``, ``authorization``,
``bearer_token``/``_file``) into request headers; ``tls_config.insecure_skip_verify`` and ``ca_file`` are honoured
by :func:`client_options`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from pathlib import Path
from typing import Any

import httpx

from contracts.notify import NotifyError

TIMEOUT_S = 10.0
USER_AGENT = "Vigil-Alerting/1"


def _secret(cfg: dict[str, Any], key: str) -> str:
    if cfg.get(key):
        return str(cfg[key])
    path = cfg.get(key + "_file")
    return Path(str(path)).read_text().strip() if path else ""


def auth_headers(http_config: dict[str, Any] | None) -> dict[str, str]:
    """The ``Authorization`` header an Alertmanager ``http_config`` asks for (empty when none)."""
    hc = http_config or {}
    if isinstance(hc.get("basic_auth"), dict):
        ba = hc["basic_auth"]
        token = base64.b64encode(f"{ba.get('username', '')}:{_secret(ba, 'password')}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    if isinstance(hc.get("authorization"), dict):
        au = hc["authorization"]
        return {"Authorization": f"{au.get('type') or 'Bearer'} {_secret(au, 'credentials')}"}
    bearer = _secret(hc, "bearer_token")
    return {"Authorization": f"Bearer {bearer}"} if bearer else {}


def client_options(http_config: dict[str, Any] | None) -> dict[str, Any]:
    """``httpx`` client options (TLS verification, redirects) of an ``http_config``."""
    hc = http_config or {}
    tls = hc.get("tls_config") or {}
    verify: bool | ssl.SSLContext = True
    if tls.get("insecure_skip_verify"):
        verify = False
    elif tls.get("ca_file"):
        verify = ssl.create_default_context(cafile=str(tls["ca_file"]))
    return {"verify": verify, "follow_redirects": bool(hc.get("follow_redirects", True)), "timeout": TIMEOUT_S}


class HttpClient:
    """One ``httpx.AsyncClient`` per channel and event loop (building one costs ~20 ms of TLS setup)."""

    def __init__(self, options: dict[str, Any]) -> None:  # noqa: D107
        self.options = options
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> httpx.AsyncClient:
        """The client of the running loop."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client, self._loop = httpx.AsyncClient(**self.options), loop
        return self._client


async def post_json(url: str, body: bytes | dict[str, Any], headers: dict[str, str],
                    client: HttpClient) -> httpx.Response:
    """POST ``body`` (JSON) to ``url``; see the module docstring for the errors."""
    data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    hdrs = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    try:
        resp = await client.get().post(url, content=data, headers=hdrs)
    except httpx.HTTPError as exc:
        raise NotifyError(f"{type(exc).__name__}: {exc}", retryable=True) from None
    if 200 <= resp.status_code < 300:
        return resp
    snippet = resp.text[:200].replace("\n", " ")
    retry = resp.status_code == 429 or resp.status_code >= 500
    raise NotifyError(f"unexpected status code {resp.status_code}: {snippet}", retryable=retry)
