"""Read side of the columnar store: parameterised ClickHouse SQL → rows as dicts.

``ClickHouseReader.rows(sql, params)`` runs on a pool of handles separate from the writer's (a chDB
handle runs one statement at a time). Blocking; call it from a worker thread in async code.
Parameters use ClickHouse server-side binding (``{name:Type}``); never format values into SQL.
With a :class:`~storage.clickhouse.part_guard.PartGuard`, reads skip parts known to be damaged, and a read
that fails the way a damaged part makes it fail is retried once after the guard looked for new ones.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from storage.clickhouse.inserter import error_code
from storage.clickhouse.part_guard import DAMAGE_ERROR_CODES, DISK_FREE_SQL, PartGuard


class ClickHouseReader:
    def __init__(self, connect: Callable[[], Client], handles: int = 4, guard: PartGuard | None = None) -> None:
        self._connect = connect
        self._guard = guard
        self._pool: queue.LifoQueue[Client | None] = queue.LifoQueue()
        for _ in range(handles):
            self._pool.put(None)  # created lazily

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        client = self._pool.get()
        try:
            if client is None:
                client = self._connect()
            result = self._query(client, sql, params or {})
            names = result.column_names
            return [dict(zip(names, r, strict=True)) for r in result.result_rows]
        except Exception:
            client = None  # a broken handle is replaced on next use
            raise
        finally:
            self._pool.put(client)

    def _query(self, client: Client, sql: str, params: dict[str, Any]) -> Any:
        guard = self._guard
        if guard is None:
            return client.query(sql, parameters=params)
        with guard.reading():
            hiding = guard.read_settings()
            try:
                return client.query(sql, parameters=params, settings=hiding)
            except DatabaseError as exc:
                if error_code(exc) not in DAMAGE_ERROR_CODES:
                    raise
                error = exc
        guard.scan(client, str(error))  # outside reading(): a repair waits for the reads under way
        with guard.reading():
            retry = guard.read_settings()
            if retry == hiding:  # no part newly hidden (by the scan or, meanwhile, by the sweeper)
                raise error
            return client.query(sql, parameters=params, settings=retry)

    def disk_free_bytes(self) -> int | None:
        """Unreserved bytes on the store's fullest disk (None if the store does not say)."""
        free = self.rows(DISK_FREE_SQL)[0]["free"]
        return None if free is None else int(free)

    def ping(self) -> None:
        self.rows("SELECT 1")
