"""A reader that runs each distinct query once, for one composite answer.

``/api/dashboard``'s parts ask the store some questions twice (e.g. the per-service figures of the
services list and of the error-spike insight).

Only for the lifetime of one answer: results are kept in memory and never expire. Thread-safe; a
second caller of a query in flight waits for the first one's result (or its exception).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import numpy.typing as npt

from contracts.reader import TelemetryReader


class MemoReader:
    """A :class:`~contracts.reader.TelemetryReader` over ``reader`` that answers repeated queries from memory."""

    def __init__(self, reader: TelemetryReader) -> None:
        """Wrap ``reader``."""
        self._reader = reader
        self._lock = threading.Lock()
        self._done: dict[str, Future[list[dict[str, Any]]]] = {}
        self.hits = 0

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """``reader.rows`` once per distinct (sql, params); the same list to every caller (do not mutate it)."""
        key = repr((sql, sorted((params or {}).items())))
        with self._lock:
            future = self._done.get(key)
            mine = future is None
            if future is None:
                future = self._done[key] = Future()
            else:
                self.hits += 1
        if mine:
            try:
                future.set_result(self._reader.rows(sql, params))
            except BaseException as exc:
                future.set_exception(exc)
        return future.result()

    def columns(self, sql: str, params: dict[str, Any] | None = None) -> npt.NDArray[Any]:
        """Not remembered: passed to the wrapped reader."""
        return self._reader.columns(sql, params)
