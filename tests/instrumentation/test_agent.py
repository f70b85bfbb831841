"""The host agent as a real subprocess exporting to Vigil's own OTLP receiver (HTTP and gRPC) on a free port.

The receiver runs in this process (its event loop in a thread) with bearer-token authentication and
``contracts.ingest.InMemoryWriter`` behind the real ``IngestHandler``. Each scenario: metrics arrive with
the agent's resource; the receiver stops and the agent logs one readable "cannot reach" line (no
traceback, no SDK retry chatter) and keeps running; the receiver restarts on the same port and metrics
arrive again; SIGTERM ends the agent with exit code 0. HTTP runs through ``vigil agent`` flags
(``vigil.agentcmd``), gRPC through ``python -m instrumentation.agent`` configured by ``OTEL_*`` env only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from contracts.ingest import InMemoryWriter
from instrumentation.agent import AgentOptions, describe_failure, probe_endpoint
from receiver.auth import Authenticator
from receiver.grpc_server import build_server
from receiver.handler import IngestHandler
from receiver.http import OtlpHttpApp
from tests.instrumentation.semconv_system import SYSTEM_METRICS
from vigil.agentcmd import add_agent_parser, run_agent_command

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "agent-test-token-0123456789"
FOREVER = {"traces": 0, "logs": 0, "metrics": 0}
INTERVAL_MS = 300
LINUX_ONLY = {"system.paging.operations", "system.paging.faults", "system.disk.io_time"}
AGENT_CLI = ("import argparse, sys; from vigil.agentcmd import add_agent_parser, run_agent_command; "
             "p = argparse.ArgumentParser(prog='vigil'); add_agent_parser(p.add_subparsers(dest='command')); "
             "sys.exit(run_agent_command(p.parse_args()))")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """Vigil's OTLP receiver on ``127.0.0.1:port`` (``http`` or ``grpc``), restartable on the same port."""

    def __init__(self, protocol: str, port: int) -> None:
        self.protocol, self.port = protocol, port
        self.writer = InMemoryWriter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread()

    def start(self) -> Receiver:
        self.writer = InMemoryWriter()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        handler = IngestHandler(self.writer, FOREVER)
        auth = Authenticator({TOKEN: ""})
        if self.protocol == "grpc":
            self._server = build_server(handler, "127.0.0.1", self.port, 4 << 20, auth=auth)
            await self._server.start()
            return
        app = OtlpHttpApp(handler, 4 << 20, auth=auth)
        # uvicorn leaves signal handling alone off the main thread
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                               access_log=False, log_config=None, lifespan="off"))
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            assert not self._task.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)

    async def _stop(self) -> None:
        if self.protocol == "grpc":
            await self._server.stop(None)
            return
        self._server.should_exit = True
        assert self._task is not None
        await self._task

    def stop(self) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def requests(self) -> list[ExportMetricsServiceRequest]:
        return [ExportMetricsServiceRequest.FromString(p) for s, p, _ in list(self.writer.writes) if s == "metrics"]


class Agent:
    """The agent subprocess; its stderr is read line by line in a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        self.proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env={**base, "PYTHONPATH": str(ROOT), **env})
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def matching(self, pattern: str) -> list[str]:
        return [line for line in list(self.lines) if re.search(pattern, line)]

    def wait_for_line(self, pattern: str, timeout: float = 15.0) -> str:
        wait_until(lambda: bool(self.matching(pattern)) or self.proc.poll() is not None, timeout,
                   f"agent line {pattern!r}")
        assert self.matching(pattern), f"agent exited {self.proc.returncode}:\n" + "\n".join(self.lines)
        return self.matching(pattern)[0]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _resource(req: ExportMetricsServiceRequest) -> dict[str, str]:
    [rm] = req.resource_metrics
    return {kv.key: kv.value.string_value for kv in rm.resource.attributes}


def _metric_names(req: ExportMetricsServiceRequest) -> set[str]:
    return {m.name for rm in req.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


@pytest.fixture
def running() -> Iterator[list[Any]]:
    """Everything a test started, stopped afterwards even when it fails."""
    started: list[Any] = []
    yield started
    for thing in reversed(started):
        with contextlib.suppress(Exception):  # already stopped
            thing.stop()


def _http_agent(port: int) -> tuple[list[str], dict[str, str]]:
    return (["-c", AGENT_CLI, "agent", "--endpoint", f"http://127.0.0.1:{port}", "--interval", f"{INTERVAL_MS}ms",
             "--headers", f"authorization=Bearer%20{TOKEN}"],
            {"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=agent-test"})


def _grpc_agent(port: int) -> tuple[list[str], dict[str, str]]:
    return (["-m", "instrumentation.agent"],
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
             "OTEL_METRIC_EXPORT_INTERVAL": str(INTERVAL_MS),
             "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer {TOKEN}",
             "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=agent-test", "GRPC_VERBOSITY": "ERROR"})


@pytest.mark.parametrize(("protocol", "agent_args"), [("http", _http_agent), ("grpc", _grpc_agent)])
def test_agent_exports_survives_an_outage_and_stops_cleanly(
        protocol: str, agent_args: Callable[[int], tuple[list[str], dict[str, str]]], running: list[Any]) -> None:
    port = _free_port()
    receiver = Receiver(protocol, port).start()
    running.append(receiver)
    agent = Agent(*agent_args(port))
    running.append(agent)
    url = f"http://127.0.0.1:{port}" + ("/v1/metrics" if protocol == "http" else "")
    agent.wait_for_line(rf"vigil agent: sending host metrics of \S+ every {INTERVAL_MS}ms to {re.escape(url)} ")

    # 1. metrics arrive, authenticated, with the agent's resource
    wait_until(lambda: bool(receiver.requests()), 15, "a first export")
    first = receiver.requests()[0]
    resource = _resource(first)
    assert resource["service.name"] == "vigil-agent"
    assert resource["host.name"] == socket.gethostname()
    assert resource["os.type"] == platform.system().lower()
    assert resource["host.arch"] and resource["os.description"]
    assert resource["deployment.environment.name"] == "agent-test"  # OTEL_RESOURCE_ATTRIBUTES merged
    expected = {n for n in SYSTEM_METRICS if sys.platform.startswith("linux") or n not in LINUX_ONLY}
    assert _metric_names(first) == expected

    # 2. the receiver goes away: one readable line, no traceback, the agent keeps running
    receiver.stop()
    line = agent.wait_for_line(r"cannot reach")
    assert f"vigil agent: cannot reach {url} (connection refused); retrying every {INTERVAL_MS}ms" in line
    time.sleep(4 * INTERVAL_MS / 1000 + 1)  # several more failed exports
    assert agent.proc.poll() is None
    assert len(agent.matching("cannot reach")) == 1, "one line per outage"
    assert not agent.matching("Traceback|opentelemetry\\.exporter|Transient error|Failed to export"), agent.lines

    # 3. it comes back on the same port: metrics arrive again
    receiver.start()
    wait_until(lambda: bool(receiver.requests()), 15, "exports after the outage")
    assert _resource(receiver.requests()[0])["service.name"] == "vigil-agent"
    agent.wait_for_line(rf"vigil agent: {re.escape(url)} reachable again after \d+ failed export")

    # 4. SIGTERM: final flush, exit 0 promptly
    sent = len(receiver.requests())
    t0 = time.monotonic()
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.proc.wait(10) == 0
    assert time.monotonic() - t0 < 5
    agent.wait_for_line(r"vigil agent: stopped")
    assert len(receiver.requests()) > sent, "the final flush arrived"
    assert not agent.matching("Traceback"), agent.lines


def test_unreachable_from_the_start_then_sigint(running: list[Any]) -> None:
    port = _free_port()  # nothing listens
    agent = Agent(*_http_agent(port))
    running.append(agent)
    agent.wait_for_line(rf"cannot reach http://127\.0\.0\.1:{port}/v1/metrics \(connection refused\)")
    agent.proc.send_signal(signal.SIGINT)
    assert agent.proc.wait(10) == 0
    assert not agent.matching("Traceback")


def test_a_refusing_endpoint_is_reported_once_with_its_answer(running: list[Any]) -> None:
    port = _free_port()
    receiver = Receiver("http", port).start()
    running.append(receiver)
    args, env = _http_agent(port)
    agent = Agent([a.replace(TOKEN, "wrong-token-0123456789") for a in args], env)
    running.append(agent)
    line = agent.wait_for_line(r"failed \(")
    assert f"vigil agent: export to http://127.0.0.1:{port}/v1/metrics failed (HTTP 401 Unauthorized); " in line
    time.sleep(4 * INTERVAL_MS / 1000)
    assert len(agent.matching("failed \\(|cannot reach")) == 1
    assert receiver.requests() == []
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.proc.wait(10) == 0


# --------------------------------------------------------------------------------------- flags, env
def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vigil")
    add_agent_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["agent", *argv])


@pytest.mark.parametrize(("argv", "named"), [
    (["--interval", "10x"], "--interval"),
    (["--interval", "0"], "--interval"),
    (["--protocol", "http/json"], "--protocol"),
    (["--endpoint", "localhost:4318"], "--endpoint"),
    (["--endpoint", "http://host:99999"], "--endpoint"),
    (["--headers", "authorization"], "--headers"),
    (["--log-level", "loud"], "--log-level"),
])
def test_bad_flag_exits_2_naming_it(argv: list[str], named: str, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("OTEL_")]:
        monkeypatch.delenv(key)
    assert run_agent_command(_parse(*argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vigil agent: invalid {named}: "), err
    assert "Traceback" not in err


@pytest.mark.parametrize(("var", "value"), [
    ("OTEL_METRIC_EXPORT_INTERVAL", "soon"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://x"),
    ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
    ("OTEL_RESOURCE_ATTRIBUTES", "=x"),
])
def test_bad_env_exits_2_naming_it(var: str, value: str, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(var, value)
    assert run_agent_command(_parse()) == 2
    assert capsys.readouterr().err.startswith(f"vigil agent: invalid {var}: ")


def test_help_renders() -> None:
    parser = argparse.ArgumentParser(prog="vigil")
    sub = parser.add_subparsers(dest="command")
    add_agent_parser(sub)
    text = sub.choices["agent"].format_help()
    assert all(flag in text for flag in ("--endpoint", "--protocol", "--interval", "--headers", "--log-level"))


def test_options_explicit_then_signal_env_then_generic_env() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://generic:4318/base/", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
           "OTEL_METRIC_EXPORT_INTERVAL": "2500", "OTEL_EXPORTER_OTLP_HEADERS": "a=1,b=x%20y",
           "OTEL_RESOURCE_ATTRIBUTES": "host.name=web-1,team=core"}
    o = AgentOptions.resolve(environ=env)
    assert (o.endpoint, o.protocol, o.interval_s) == ("http://generic:4318/base", "grpc", 2.5)  # gRPC: as is
    assert o.headers == {"a": "1", "b": "x y"}
    assert (o.resource["host.name"], o.resource["team"], o.resource["service.name"]) == ("web-1", "core", "vigil-agent")
    env |= {"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf"}
    assert AgentOptions.resolve(environ=env).endpoint == "http://generic:4318/base/v1/metrics"  # base + path
    env |= {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://signal:9/custom",
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "a=2", "OTEL_SERVICE_NAME": "edge-agent"}
    o = AgentOptions.resolve(environ=env)
    assert (o.endpoint, o.headers, o.resource["service.name"]) == ("http://signal:9/custom", {"a": "2"}, "edge-agent")
    o = AgentOptions.resolve(endpoint="https://explicit:4318", protocol="http/protobuf", interval_s=0.5,
                             headers={"A": "3"}, resource={"team": "infra"}, environ=env)
    assert (o.endpoint, o.interval_s, o.headers) == ("https://explicit:4318/v1/metrics", 0.5, {"a": "3"})
    assert o.resource["team"] == "infra"
    o = AgentOptions.resolve(environ={})
    assert (o.endpoint, o.protocol, o.interval_s, o.headers) == ("http://localhost:4318/v1/metrics",
                                                                  "http/protobuf", 10.0, {})
    assert AgentOptions.resolve(protocol="grpc", environ={}).endpoint == "http://localhost:4317"


@pytest.mark.parametrize(("messages", "expected"), [
    (["Failed to export metrics batch code: 401, reason: Unauthorized"], ("HTTP 401 Unauthorized", True)),
    (["Failed to export metrics to h:4317, error code: StatusCode.UNAUTHENTICATED, error details: x"],
     ("gRPC UNAUTHENTICATED", True)),
    (["... StatusCode.UNAVAILABLE, error details: failed to connect to all addresses; last error: "
      "UNKNOWN: ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused (111)"],
     ("connection refused", False)),
    (["HTTPConnectionPool(host='nohost.invalid', port=4318): Max retries exceeded (Caused by NameResolutionError"
      "(\"Failed to resolve 'nohost.invalid' ([Errno -2] Name or service not known)\"))"], ("unknown host", False)),
    # the HTTP exporter's message when it gives up before a retry names no cause
    (["Failed to export metrics batch due to timeout, max retries or shutdown."], None),
    ([], None),
])
def test_failure_descriptions(messages: list[str], expected: tuple[str, bool] | None) -> None:
    assert describe_failure(messages) == expected


def test_probe_tells_refused_from_listening() -> None:
    port = _free_port()
    assert probe_endpoint(f"http://127.0.0.1:{port}/v1/metrics") == ("connection refused", False)
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        assert probe_endpoint(f"http://127.0.0.1:{listening.getsockname()[1]}") == ("no valid answer", True)


def test_cli_protocols_match_the_agent() -> None:
    from instrumentation import agent
    from vigil import agentcmd

    assert agentcmd.PROTOCOLS == agent.PROTOCOLS
