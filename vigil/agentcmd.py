"""``vigil agent``: send this host's metrics to a Vigil (or any OTLP endpoint) until stopped.

The agent itself is :mod:`instrumentation.agent` (client side, OTLP only); this module is its command
line. Flags win over the standard ``OTEL_*`` environment variables (see
:meth:`instrumentation.agent.AgentOptions.resolve`). Exit codes: 0 after SIGTERM/SIGINT (metrics
flushed), 1 if the agent could not start, 2 for an invalid flag or environment variable.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from contracts.durations import DurationError, parse_duration_ms

if TYPE_CHECKING:
    from instrumentation.agent import AgentOptions

EXIT_USAGE = 2
PROTOCOLS = ("http/protobuf", "grpc")  # instrumentation.agent.PROTOCOLS, imported only when the command runs
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DESCRIPTION = "send this host's system.* metrics (CPU, memory, disks, filesystems, network, processes) over OTLP"


def add_agent_parser(subparsers: Any) -> None:
    """Add the ``agent`` command to ``subparsers`` (the result of ``ArgumentParser.add_subparsers``)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "agent", help=DESCRIPTION, description=DESCRIPTION,
        epilog="exit codes: 0 stopped by SIGTERM/SIGINT, 1 could not start, 2 invalid flag or environment variable")
    p.add_argument("--endpoint", metavar="URL",
                   help="OTLP base URL; /v1/metrics is appended for http/protobuf (env OTEL_EXPORTER_OTLP_ENDPOINT, "
                        "or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT used as is; default http://localhost:4318, "
                        "4317 for grpc)")
    p.add_argument("--protocol", metavar="|".join(PROTOCOLS),
                   help="OTLP transport (env OTEL_EXPORTER_OTLP_PROTOCOL; default http/protobuf)")
    p.add_argument("--interval", metavar="DURATION",
                   help="collection and export interval, e.g. 10s, 500ms, 1m (env OTEL_METRIC_EXPORT_INTERVAL "
                        "in ms; default 10s)")
    p.add_argument("--headers", metavar="K=V,K2=V2", action="append", default=[],
                   help="headers sent with every export, values URL-encoded, e.g. authorization=Bearer%%20TOKEN; "
                        "repeatable; added to env OTEL_EXPORTER_OTLP_HEADERS")
    p.add_argument("--log-level", metavar="LEVEL", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")


class _UsageError(ValueError):
    pass


def _interval_s(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        ms = parse_duration_ms(text)
    except DurationError as exc:
        raise _UsageError(f"--interval: {exc}") from None
    if ms <= 0:
        raise _UsageError(f"--interval: {text!r} is not positive")
    return ms / 1000


def options_from_args(args: argparse.Namespace) -> AgentOptions:
    """Validate the flags and resolve them against the environment.

    Raises:
        ValueError: An invalid flag or environment variable; the message names it.
    """
    from instrumentation.agent import AgentOptions, check_endpoint, parse_headers

    if args.protocol is not None and args.protocol not in PROTOCOLS:
        raise _UsageError(f"--protocol: {args.protocol[:40]!r} is not supported; use {' or '.join(PROTOCOLS)}")
    if args.log_level.upper() not in LOG_LEVELS:
        raise _UsageError(f"--log-level: {args.log_level[:40]!r} is not one of {', '.join(LOG_LEVELS)}")
    endpoint = check_endpoint(args.endpoint, "--endpoint") if args.endpoint is not None else None
    headers: dict[str, str] = {}
    for text in args.headers:
        headers.update(parse_headers(text, "--headers"))
    return AgentOptions.resolve(endpoint=endpoint, protocol=args.protocol, interval_s=_interval_s(args.interval),
                                headers=headers)


def run_agent_command(args: argparse.Namespace) -> int:
    """Run ``vigil agent`` with parsed ``args``; return the exit code (2 with a message for bad values)."""
    from instrumentation.agent import AgentConfigError, run_agent

    try:
        options = options_from_args(args)
    except (_UsageError, AgentConfigError) as exc:
        print(f"vigil agent: invalid {exc}", file=sys.stderr)
        return EXIT_USAGE
    from vigil.cli import setup_logging  # here: vigil.cli imports this module

    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    setup_logging(args.log_level)
    return run_agent(options)
