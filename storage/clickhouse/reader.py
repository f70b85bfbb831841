"""Read side of the columnar store: parameterised ClickHouse SQL → rows as dicts.

``ClickHouseReader.rows(sql, params)`` runs on a pool of handles separate from the writer's (a chDB
handle runs one statement at a time). Blocking; call it from a worker thread in async code.
Parameters use ClickHouse server-side binding (``{name:Type}``); never format values into SQL.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

from clickhouse_connect.driver.client import Client


class ClickHouseReader:
    def __init__(self, connect: Callable[[], Client], handles: int = 4) -> None:
        self._connect = connect
        self._pool: queue.LifoQueue[Client | None] = queue.LifoQueue()
        for _ in range(handles):
            self._pool.put(None)  # created lazily

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        client = self._pool.get()
        try:
            if client is None:
                client = self._connect()
            result = client.query(sql, parameters=params or {})
            names = result.column_names
            return [dict(zip(names, r, strict=True)) for r in result.result_rows]
        except Exception:
            client = None  # a broken handle is replaced on next use
            raise
        finally:
            self._pool.put(client)

    def ping(self) -> None:
        self.rows("SELECT 1")
