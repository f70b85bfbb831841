"""``vigil`` command line: ``serve``, ``migrate``, ``--version``.

Flags override ``VIGIL_*`` env vars, which override the ``--config`` YAML file (see vigil.config).
Exit codes: 0 success, 2 invalid configuration, 1 runtime failure.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from vigil import __version__
from vigil.config import ConfigError, load


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vigil", description="OpenTelemetry-native APM backend")
    p.add_argument("--version", action="version", version=f"vigil {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in (("serve", "run ingest, storage and the query API"),
                        ("migrate", "apply storage migrations and exit")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("--config", help="YAML config file (keys = config field names)")
        s.add_argument("--data-dir", dest="data_dir")
        s.add_argument("--clickhouse-url", dest="clickhouse_url")
        s.add_argument("--postgres-url", dest="postgres_url")
        s.add_argument("--log-level", dest="log_level")
        if name == "serve":
            s.add_argument("--host")
            s.add_argument("--port", type=int, help="query API port (default 3001)")
            s.add_argument("--otlp-grpc-port", dest="otlp_grpc_port", type=int)
            s.add_argument("--otlp-http-port", dest="otlp_http_port", type=int)
            s.add_argument("--role", choices=["all", "receiver", "query"], help="which listeners to run (default all)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
    try:
        cfg = load(args.config, overrides=overrides)
    except ConfigError as exc:
        print(f"vigil: invalid configuration: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from vigil.app import Vigil  # heavy imports only after the config is valid

    app = Vigil(cfg)
    if args.command == "migrate":
        app.open_stores()
        print("migrations applied")
        return 0
    asyncio.run(app.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
