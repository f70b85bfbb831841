"""Real receivers for notification tests: a local HTTP server (webhook/Slack) and an SMTP server (aiosmtpd).

:class:`HttpSink` records every POST (path, headers, body) and answers with the next status of a
per-path script (default 200). :class:`SmtpSink` is aiosmtpd's controller with optional STARTTLS
(a self-signed certificate made with ``openssl``) and AUTH PLAIN/LOGIN against one user.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from collections import defaultdict
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from instrumentation.demo.shop import free_port


@dataclass
class Request:
    """One recorded POST."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class HttpSink:
    """A threaded local HTTP server recording POSTs; ``script[path]`` lists statuses to answer, in order."""

    def __init__(self) -> None:  # noqa: D107
        self.requests: list[Request] = []
        self.script: dict[str, list[int]] = defaultdict(list)
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink.lock:
                    sink.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    todo = sink.script[self.path]
                    status = todo.pop(0) if todo else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        """The URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[Request]:
        """The requests to ``path`` so far."""
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        """Stop the server."""
        self.server.shutdown()
        self.server.server_close()


def self_signed(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


class _Handler:
    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, Message]] = []

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        self.messages.append((envelope, message_from_bytes(content)))
        return "250 Message accepted for delivery"


class SmtpSink:
    """aiosmtpd on 127.0.0.1 with STARTTLS required (when ``tls``) and AUTH against ``user``/``password``."""

    def __init__(self, tls: ssl.SSLContext | None = None, user: str = "", password: str = "") -> None:  # noqa: D107
        self.handler = _Handler()

        def authenticator(server: SMTPServer, session: Session, envelope: Envelope, mechanism: str,
                          auth_data: Any) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user \
                and auth_data.password.decode() == password
            return AuthResult(success=ok, handled=False)

        kwargs: dict[str, Any] = {"tls_context": tls, "require_starttls": tls is not None}
        if user:
            kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=tls is not None)
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, server_kwargs=kwargs)
        self.controller.start()

    @property
    def messages(self) -> list[tuple[Envelope, Message]]:
        """Received (envelope, parsed message) pairs."""
        return self.handler.messages

    def close(self) -> None:
        """Stop the server."""
        self.controller.stop()
