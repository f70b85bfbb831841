"""Build clickhouse-connect clients from a Vigil columnar DSN.

``chdb:///abs/path`` opens embedded chDB in this process (one data path per process; every call
returns a *new handle* on it, and a handle runs one statement at a time, so give each thread its
own). ``http(s)://user:pass@host:port/db`` talks to a ClickHouse server.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client


def is_embedded(dsn: str) -> bool:
    return dsn.startswith("chdb:")


def connect(dsn: str) -> Client:
    """A new client (handle) for ``dsn``; the embedded data directory is created if missing."""
    if is_embedded(dsn):
        path = urlparse(dsn).path
        if path:
            Path(path).mkdir(parents=True, exist_ok=True)
        return clickhouse_connect.get_client(dsn=dsn)
    return clickhouse_connect.get_client(dsn=dsn, compress=False, connect_timeout=5, send_receive_timeout=60)
