"""Build clickhouse-connect clients from a Vigil columnar DSN, and the Protobuf input settings.

``chdb:///abs/path`` opens embedded chDB in this process (one data path per process; every call
returns a *new handle* on it, and a handle runs one statement at a time, so give each thread its
own). ``http(s)://user:pass@host:port/db`` talks to a ClickHouse server.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from storage.clickhouse.wire_schema import proto_text


def is_embedded(dsn: str) -> bool:
    """Whether ``dsn`` names embedded chDB (``chdb:`` scheme) rather than a ClickHouse server."""
    return dsn.startswith("chdb:")


def _embedded_path(dsn: str) -> Path:
    """The data directory of a ``chdb:///abs/path`` DSN."""
    return Path(urlparse(dsn).path)


def connect(dsn: str) -> Client:
    """A new client (handle) for ``dsn``; the embedded data directory is created if missing."""
    if is_embedded(dsn):
        path = _embedded_path(dsn)
        path.mkdir(parents=True, exist_ok=True)
        return clickhouse_connect.get_client(
            interface="chdb", path=str(path), chdb_options={"format_schema_path": str(path / "format_schemas")}
        )
    return clickhouse_connect.get_client(dsn=dsn, compress=False, connect_timeout=5, send_receive_timeout=60)


def protobuf_settings(dsn: str, message: str) -> dict[str, Any]:
    """INSERT settings that make ClickHouse parse Vigil's wire schema ``message``.

    Embedded: the schema is written once under ``<path>/format_schemas`` (named by its content hash)
    and referenced by file, so chDB compiles it once and writes nothing to the working directory.
    Server: the schema travels inline with each INSERT (``format_schema_source = 'string'``).
    """
    text = proto_text()
    common = {"input_format_protobuf_oneof_presence": 1}
    if not is_embedded(dsn):
        return {**common, "format_schema": text, "format_schema_source": "string",
                "format_schema_message_name": message}
    name = f"vigil_otlp_{hashlib.sha256(text.encode()).hexdigest()[:12]}.proto"
    folder = _embedded_path(dsn) / "format_schemas"
    target = folder / name
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")  # threads may race here
        tmp.write_text(text)
        tmp.replace(target)
    return {**common, "format_schema": f"{target}:{message}"}
