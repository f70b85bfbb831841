"""Run a real ``vigil serve`` as a subprocess for tests (free ports, own data dir, health wait)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

_STARTED: list[VigilProcess] = []  # every server a test started; see stop_leftover_servers()


def stop_leftover_servers() -> None:
    """SIGKILL servers a failing test left running (they would slow every later test down)."""
    for server in _STARTED:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
    _STARTED.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class VigilProcess:
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    api_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def otlp_http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def otlp_grpc(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, timeout: float = 90.0) -> VigilProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / "vigil.log"
        env = {**os.environ, "VIGIL_LOG_LEVEL": "INFO", **self.env}
        cmd = [sys.executable, "-m", "vigil.cli", "serve", "--data-dir", str(self.data_dir),
               "--host", "127.0.0.1", "--port", str(self.api_port),
               "--otlp-grpc-port", str(self.grpc_port), "--otlp-http-port", str(self.http_port)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        _STARTED.append(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vigil exited with {self.proc.returncode}:\n{self.log_path.read_text()[-4000:]}")
            try:
                if httpx.get(f"{self.api}/api/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"vigil did not become healthy:\n{self.log_path.read_text()[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code


def start_server(base: Path, env: dict[str, str]) -> VigilProcess:
    """Start ``vigil serve``; retried once on fresh ports (``free_port()`` can race with other processes)."""
    try:
        return VigilProcess(base / "try1", env=env).start()
    except RuntimeError:
        return VigilProcess(base / "try2", env=env).start()
