"""Start and stop the demo shop: four service processes wired to each other, one database, one OTLP endpoint.

:class:`Shop` prepares the database (:func:`instrumentation.demo.schema.prepare`), starts
``inventory``, ``payments``, ``checkout`` and ``frontend`` (each ``python -m
instrumentation.demo.service``, its output in ``log_dir/<name>.log``), and waits until each answers
``/healthz``. :meth:`Shop.stop` sends SIGTERM (each service drains and flushes its telemetry, then
exits) and kills what has not exited within the timeout. The frontend listens on ``frontend_port``;
the back ends on free ports unless given.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from instrumentation.demo.schema import prepare

BACKENDS = ("inventory", "payments", "checkout")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ShopError(RuntimeError):
    """A shop service did not start; the message names it and quotes its log."""


@dataclass
class Shop:
    """The demo shop's processes (see the module doc)."""

    postgres_url: str
    otlp_endpoint: str
    log_dir: Path
    host: str = "127.0.0.1"
    frontend_port: int = 3000
    seed: int = 1
    decline_rate: float = 0.08
    rum_src: str = ""
    metric_interval_s: float = 5.0
    otlp_headers: str = ""
    new_sessions: bool = False  # start each service in its own session (Ctrl-C reaches only the caller)
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The frontend's base URL (the page and the public API)."""
        return f"http://{self.host}:{self.frontend_port}"

    def _argv(self, name: str) -> list[str]:
        base = f"http://{self.host}:"
        upstreams = {"checkout": ("inventory", "payments"), "frontend": ("inventory", "checkout")}.get(name, ())
        argv = [sys.executable, "-m", "instrumentation.demo.service", name, "--host", self.host,
                "--port", str(self.ports[name]), "--endpoint", self.otlp_endpoint, "--seed", str(self.seed),
                "--metric-interval", str(self.metric_interval_s)]
        for upstream in upstreams:
            argv += ["--upstream", f"{upstream}={base}{self.ports[upstream]}"]
        if name != "frontend":
            argv += ["--postgres-url", self.postgres_url]
        if name == "payments":
            argv += ["--decline-rate", str(self.decline_rate)]
        if name == "frontend" and self.rum_src:
            argv += ["--rum-src", self.rum_src]
        return argv

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # export promptly (a demo is watched live); the user's own settings win
        env.setdefault("OTEL_BSP_SCHEDULE_DELAY", "1000")
        env.setdefault("OTEL_BLRP_SCHEDULE_DELAY", "1000")
        if self.otlp_headers:
            env["OTEL_EXPORTER_OTLP_HEADERS"] = self.otlp_headers
        return env

    def start(self, timeout_s: float = 60.0) -> Shop:
        """Prepare the database, start every service, wait until all answer; raise :class:`ShopError` if not."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        prepare(self.postgres_url)
        for name in BACKENDS:
            self.ports.setdefault(name, free_port(self.host))
        self.ports["frontend"] = self.frontend_port
        env = self._env()
        try:
            for name in (*BACKENDS, "frontend"):
                with open(self.log_dir / f"{name}.log", "ab") as log:
                    self.procs[name] = subprocess.Popen(self._argv(name), stdout=log, stderr=subprocess.STDOUT,
                                                        env=env, stdin=subprocess.DEVNULL,
                                                        start_new_session=self.new_sessions)
            deadline = time.monotonic() + timeout_s
            for name, proc in self.procs.items():
                self._wait_ready(name, proc, deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, name: str, proc: subprocess.Popen[bytes], deadline: float) -> None:
        url = f"http://{self.host}:{self.ports[name]}/healthz"
        while True:
            if proc.poll() is not None:
                raise ShopError(f"shop service {name} exited with {proc.returncode}: {self._tail(name)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise ShopError(f"shop service {name} not ready at {url}: {self._tail(name)}")
            time.sleep(0.2)

    def _tail(self, name: str, lines: int = 15) -> str:
        try:
            text = (self.log_dir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> dict[str, bool]:
        """Whether each started service is still running."""
        return {name: proc.poll() is None for name, proc in self.procs.items()}

    def stop(self, timeout_s: float = 15.0) -> dict[str, int | None]:
        """SIGTERM every service (frontend first), wait for them to flush and exit; return exit codes."""
        order = ["frontend", *reversed(BACKENDS)]
        for name in order:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        codes: dict[str, int | None] = {}
        for name in order:
            proc = self.procs.get(name)
            if proc is None:
                continue
            try:
                codes[name] = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.wait()
        self.procs.clear()
        return codes
