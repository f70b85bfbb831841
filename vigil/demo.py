"""``vigil demo``: a Vigil server, the instrumented demo shop, and load on it — one command.

Starts, in order: ``vigil serve`` (a child process with embedded stores under ``--data-dir``) unless
``--endpoint`` names a running Vigil; the shop's database (the embedded PostgreSQL under
``<data-dir>/shop`` unless ``--postgres-url``); the shop's four services
(:class:`instrumentation.demo.shop.Shop`); then the load generator with a live progress display.
When the load ends (``--duration``), everything keeps running for exploring until Ctrl-C; Ctrl-C
(or SIGTERM) stops what the demo started — services first, so their telemetry is flushed — and
exits 0. ``--check`` runs the load for a bounded time (default 30 s), then verifies through Vigil's
query API that every expected signal arrived (:func:`instrumentation.demo.check.check_signals`)
and exits 1 when one is missing.

Exit codes: 0 done, 1 a check failed or a component did not start, 2 invalid options.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from contracts.durations import DurationError, parse_duration_ms

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def add_demo_parser(sub: Any) -> None:
    """Add the ``demo`` subcommand to the CLI's subparsers."""
    help_ = "run Vigil, the instrumented demo shop and load on it (Ctrl-C stops everything)"
    p = sub.add_parser("demo", help=help_, description=help_,
                       epilog="exit codes: 0 done, 1 a check failed or a component did not start, 2 invalid options")
    p.add_argument("--data-dir", default="./vigil-demo-data", help="Vigil's and the shop's data (default %(default)s)")
    p.add_argument("--endpoint", default="", help="OTLP/HTTP URL of a running Vigil to use instead of starting one")
    p.add_argument("--api-url", default="", help="query API of that Vigil (default http://HOST:VIGIL_PORT)")
    p.add_argument("--token", default="", help="bearer token for that Vigil's ingest and API")
    p.add_argument("--postgres-url", default="", help="the shop's database (default: embedded, under --data-dir)")
    p.add_argument("--host", default="127.0.0.1", help="interface everything listens on (default %(default)s)")
    p.add_argument("--port", type=int, default=3000, help="the shop's port (default %(default)s)")
    p.add_argument("--vigil-port", type=int, default=3001, help="Vigil's API and dashboard port (default %(default)s)")
    p.add_argument("--otlp-http-port", type=int, default=4318, help="Vigil's OTLP/HTTP port (default %(default)s)")
    p.add_argument("--otlp-grpc-port", type=int, default=4317, help="Vigil's OTLP/gRPC port (default %(default)s)")
    p.add_argument("--rate", type=float, default=10.0, help="requests per second (default %(default)s)")
    p.add_argument("--duration", default="", help="how long the load runs, e.g. 10m (default: until Ctrl-C)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the load and the shop (default %(default)s)")
    p.add_argument("--decline-rate", type=float, default=0.08, help="share of payments declined (default %(default)s)")
    p.add_argument("--check", action="store_true", help="run headless for --duration (default 30s), check every "
                                                        "expected signal arrived, exit 1 if one is missing")


@dataclass
class Options:
    """Validated ``vigil demo`` options."""

    args: argparse.Namespace
    duration_s: float | None

    @property
    def api_url(self) -> str:
        """Vigil's query API."""
        return self.args.api_url or f"http://{self.args.host}:{self.args.vigil_port}"

    @property
    def endpoint(self) -> str:
        """Vigil's OTLP/HTTP base URL."""
        return self.args.endpoint or f"http://{self.args.host}:{self.args.otlp_http_port}"


def _options(args: argparse.Namespace) -> Options:
    duration_s: float | None = None
    if args.duration:
        try:
            duration_s = parse_duration_ms(args.duration) / 1000
        except DurationError as exc:
            raise ValueError(f"--duration {args.duration!r}: {exc}") from exc
        if duration_s <= 0:
            raise ValueError(f"--duration {args.duration!r}: must be positive")
    elif args.check:
        duration_s = 30.0
    if args.rate <= 0:
        raise ValueError(f"--rate {args.rate}: must be positive")
    if not 0 <= args.decline_rate <= 1:
        raise ValueError(f"--decline-rate {args.decline_rate}: must be between 0 and 1")
    return Options(args, duration_s)


def rules_file() -> Path:
    """The sample alert rules shipped with the demo."""
    return Path(str(resources.files("instrumentation.demo") / "rules.yml"))


class VigilChild:
    """``vigil serve`` as a child process (stdout/stderr to ``log``)."""

    def __init__(self, opts: Options, data_dir: Path) -> None:
        """Prepare the command line; :meth:`start` runs it."""
        a = opts.args
        self.log = data_dir / "logs" / "vigil.log"
        self.argv = [sys.executable, "-m", "vigil.cli", "serve", "--data-dir", str(data_dir), "--host", a.host,
                     "--port", str(a.vigil_port), "--otlp-http-port", str(a.otlp_http_port),
                     "--otlp-grpc-port", str(a.otlp_grpc_port)]
        self.health = f"{opts.api_url}/api/health"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 120.0) -> None:
        """Start it and wait until its health answers; raise RuntimeError with its last output if not."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vigil serve exited with {self.proc.returncode}:\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.health, timeout=2.0).status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"vigil serve not ready within {timeout_s:.0f}s:\n{self.tail()}")

    def tail(self, lines: int = 12) -> str:
        """The end of its output."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no output)"

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM, wait, kill if it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_demo_command(args: argparse.Namespace) -> int:
    """Run ``vigil demo``; return its exit code (see the module doc)."""
    try:
        opts = _options(args)
    except ValueError as exc:
        print(f"vigil demo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from vigil.demorun import DemoRun

    return DemoRun(opts).run()
