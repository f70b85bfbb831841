"""``vigil demo`` as a user runs it: a real Vigil, the shop, load, the signal check, Ctrl-C, bad options."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.vigil_process import free_port


def _ports() -> list[str]:
    return ["--port", str(free_port()), "--vigil-port", str(free_port()), "--otlp-http-port", str(free_port()),
            "--otlp-grpc-port", str(free_port())]


def _listening(argv: list[str]) -> list[int]:
    ports = [int(argv[i + 1]) for i, a in enumerate(argv) if a.endswith("port")]
    open_ = []
    for port in ports:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                open_.append(port)
    return open_


def test_demo_check_runs_everything_and_finds_every_signal(tmp_path: Path) -> None:
    ports = _ports()
    # ~20 checkouts in 10 s: at the default 8 % decline rate none is declined in ~17 % of runs (the payment
    # service's draws interleave with its concurrent charges, so the seed does not fix the outcome) and the
    # check rightly reports no PaymentGatewayError; at 30 % that chance is below 0.1 %.
    argv = [sys.executable, "-m", "vigil.cli", "demo", "--check", "--duration", "10s", "--rate", "15",
            "--decline-rate", "0.3", "--data-dir", str(tmp_path / "demo"), *ports]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "demo check: every expected signal arrived" in out.stdout
    assert "MISSING" not in out.stdout
    for line in ("Dashboard:", "Shop:", "Rules:"):
        assert line in out.stdout
    assert _listening(ports) == [], "the demo left a listener running"
    assert (tmp_path / "demo" / "shop" / "pg").is_dir(), "the shop's embedded database lives under --data-dir"
    assert not (tmp_path / "demo" / "shop" / "pg" / "postmaster.pid").exists(), "the shop's database still runs"


def test_ctrl_c_after_the_load_stops_everything_cleanly(tmp_path: Path) -> None:
    ports = _ports()
    argv = [sys.executable, "-m", "vigil.cli", "demo", "--duration", "2s", "--rate", "10",
            "--data-dir", str(tmp_path / "demo"), *ports]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 180
    for line in proc.stdout:
        lines.append(line)
        if "The load has ended" in line or time.monotonic() > deadline:
            break
    assert any("The load has ended" in line for line in lines), "".join(lines)[-3000:]
    assert _listening(ports) != [], "shop and Vigil keep running after the load"
    proc.send_signal(signal.SIGINT)
    try:
        rest, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("vigil demo did not stop within 30 s of Ctrl-C")
    assert proc.returncode == 0, rest[-3000:]
    assert "Stopping the shop" in rest and "Stopping Vigil" in rest
    assert _listening(ports) == []


@pytest.mark.parametrize(("flags", "message"), [
    (["--duration", "soon"], "--duration 'soon'"),
    (["--duration", "0s"], "--duration '0s': must be positive"),
    (["--rate", "0"], "--rate 0.0: must be positive"),
    (["--decline-rate", "2"], "--decline-rate 2.0: must be between 0 and 1"),
])
def test_invalid_options_exit_2_naming_the_flag(tmp_path: Path, flags: list[str], message: str) -> None:
    out = subprocess.run([sys.executable, "-m", "vigil.cli", "demo", "--data-dir", str(tmp_path), *flags],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert message in out.stderr
    assert not any(tmp_path.iterdir()), "nothing starts on invalid options"
