"""Read side of the columnar store: parameterised ClickHouse SQL → rows as dicts.

``ClickHouseReader.rows(sql, params, settings)`` (and ``columns``, the same as a numpy structured array)
runs on a pool of handles separate from the writer's (a chDB handle runs one statement at a time);
``settings`` are extra query settings for this one read.
``with_client(fn)`` lends ``fn`` a pooled handle for statements that are not row reads. Blocking; call it
from a worker thread in async code. Parameters use ClickHouse server-side binding (``{name:Type}``);
never format values into SQL.

Attributes:
    DISK_FREE_SQL: Unreserved bytes on the store's fullest disk (``free``; NULL when the store reports no
        disks). The one free-space query of the columnar store.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any, TypeVar

import numpy.typing as npt
from clickhouse_connect.driver.client import Client

DISK_FREE_SQL = "SELECT min(unreserved_space) AS free FROM system.disks"
T = TypeVar("T")


class ClickHouseReader:
    """A :class:`~contracts.reader.TelemetryReader` on ``handles`` lazily opened handles; thread-safe."""

    def __init__(self, connect: Callable[[], Client], handles: int = 4) -> None:
        """A pool of ``handles`` handles, each opened with ``connect`` on first use."""
        self._connect = connect
        self._pool: queue.LifoQueue[Client | None] = queue.LifoQueue()
        for _ in range(handles):
            self._pool.put(None)  # created lazily

    def rows(self, sql: str, params: dict[str, Any] | None = None,
             settings: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one SELECT with ``params`` bound and ``settings`` applied; the rows as dicts."""
        def run(client: Client) -> list[dict[str, Any]]:
            result = client.query(sql, parameters=params or {}, settings=settings or {})
            names = result.column_names
            return [dict(zip(names, r, strict=True)) for r in result.result_rows]

        return self.with_client(run)

    def columns(self, sql: str, params: dict[str, Any] | None = None,
                settings: dict[str, Any] | None = None) -> npt.NDArray[Any]:
        """Run one SELECT of scalar columns; the result as a numpy structured array (``query_np``)."""
        def run(client: Client) -> npt.NDArray[Any]:
            return client.query_np(sql, parameters=params or {}, settings=settings or {})

        return self.with_client(run)

    def with_client(self, fn: Callable[[Client], T]) -> T:
        """``fn(handle)`` on a pooled handle (a handle that raised is replaced on next use)."""
        client = self._pool.get()
        try:
            if client is None:
                client = self._connect()
            return fn(client)
        except Exception:
            client = None  # a broken handle is replaced on next use
            raise
        finally:
            self._pool.put(client)

    def disk_free_bytes(self) -> int | None:
        """Unreserved bytes on the store's fullest disk (None if the store does not say)."""
        free = self.rows(DISK_FREE_SQL)[0]["free"]
        return None if free is None else int(free)

    def ping(self) -> None:
        """Raise unless the store answers a trivial query."""
        self.rows("SELECT 1")
