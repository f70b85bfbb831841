"""Why an agent's export failed: the exporters' log messages matched to a short reason, or a TCP probe.

:func:`describe_failure` turns the OpenTelemetry exporters' messages into ``(reason, endpoint answered)``;
:func:`probe_endpoint` opens a TCP connection when the messages do not say.
"""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

_REASONS = [(re.compile(p, re.I), reason, reached) for p, reason, reached in (  # reached: the endpoint answered
    (r"connection refused", "connection refused", False),
    (r"name or service not known|nodename nor servname|name resolution|getaddrinfo|dns resolution|"
     r"no address associated", "unknown host", False),
    (r"timed out|deadline.?exceeded", "timed out", False),  # not "due to timeout, max retries": unspecific
    (r"connection (reset|aborted)|broken pipe|remote ?disconnected|unexpected eof", "connection reset", False),
    (r"\bssl\b|certificate|handshake", "TLS error", False),
    (r"\bcode: (\d{3}), reason: ([^,]*)", "HTTP {0} {1}", True),
    (r"error code: StatusCode\.(?!UNAVAILABLE)(\w+)", "gRPC {0}", True),
)]


def describe_failure(messages: list[str]) -> tuple[str, bool] | None:
    """``(short reason, whether the endpoint answered)`` from an exporter's messages; None if they do not say."""
    text = " | ".join(messages)
    for pattern, reason, reached in _REASONS:
        match = pattern.search(text)
        if match:
            return reason.format(*(g.strip() for g in match.groups())).strip(), reached
    return None


def probe_endpoint(url: str, timeout_s: float = 1.0) -> tuple[str, bool]:
    """Why an export to ``url`` failed, found by opening a TCP connection: ``(reason, connected)``."""
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)),
                                 timeout=timeout_s).close()
    except OSError as exc:
        known = {socket.gaierror: "unknown host", ConnectionRefusedError: "connection refused",
                 TimeoutError: "timed out"}.get(type(exc))
        return known or (exc.strerror or str(exc)).lower(), False
    return "no valid answer", True
