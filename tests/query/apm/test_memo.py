"""MemoReader: one store query per distinct (sql, params), shared by concurrent callers, errors included."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from query.apm.memo import MemoReader
from storage.clickhouse.client import connect
from storage.clickhouse.reader import ClickHouseReader


class Counting:
    """A real chDB reader that counts the queries reaching the store."""

    def __init__(self, dsn: str) -> None:
        self.inner = ClickHouseReader(lambda: connect(dsn))
        self.calls = 0
        self.lock = threading.Lock()

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with self.lock:
            self.calls += 1
        time.sleep(0.05)  # keep the first call in flight while the others arrive
        return self.inner.rows(sql, params)

    def columns(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        return self.inner.columns(sql, params)


def test_concurrent_identical_queries_run_once(chdb_dsn: str) -> None:
    store = Counting(chdb_dsn)
    memo = MemoReader(store)
    sql = "SELECT {n:UInt32} + 1 AS v"
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda n: memo.rows(sql, {"n": n})[0]["v"], [1, 1, 1, 2]))
    assert got == [2, 2, 2, 3]
    assert store.calls == 2 and memo.hits == 2  # one per distinct parameter set


def test_a_failing_query_fails_every_caller(chdb_dsn: str) -> None:
    store = Counting(chdb_dsn)
    memo = MemoReader(store)
    for _ in range(2):
        with pytest.raises(Exception, match="UNKNOWN_TABLE|does not exist"):
            memo.rows("SELECT * FROM no_such_table_here")
    assert store.calls == 1
