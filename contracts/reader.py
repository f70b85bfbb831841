"""The read contract: what query services need from the columnar store.

:class:`TelemetryReader` runs parameterised ClickHouse SQL. :class:`InMemoryReader` answers canned rows
for unit tests of query services (it does not parse SQL: it matches substrings of it).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt


class TelemetryReader(Protocol):
    """Blocking, thread-safe reads; call from a worker thread in async code."""

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a parameterised ClickHouse SELECT (``{name:Type}`` placeholders); return rows as dicts."""
        ...

    def columns(self, sql: str, params: dict[str, Any] | None = None) -> npt.NDArray[Any]:
        """Run a SELECT of scalar columns; the result as a numpy structured array (one field per column).

        For large numeric reads: no Python object per row. An empty result may have no fields.
        """
        ...


class InMemoryReader:
    """A :class:`TelemetryReader` with canned answers; records every query in ``calls``.

    ``answers`` maps a substring of the SQL to the rows returned for a query containing it (first
    match in insertion order wins); any other query gets ``rows``. ``fail`` is raised instead when set.
    """

    def __init__(self, rows: list[dict[str, Any]] | None = None, *,
                 answers: dict[str, list[dict[str, Any]]] | None = None, fail: Exception | None = None) -> None:
        """Build a reader answering ``rows`` by default."""
        self._rows = rows or []
        self.answers = dict(answers or {})
        self.fail = fail
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Record the query; answer the first matching canned rows."""
        self.calls.append((sql, dict(params or {})))
        if self.fail is not None:
            raise self.fail
        for needle, rows in self.answers.items():
            if needle in sql:
                return rows
        return self._rows

    def columns(self, sql: str, params: dict[str, Any] | None = None) -> npt.NDArray[Any]:
        """The canned rows of :meth:`rows` as a structured array (fields typed by numpy's inference)."""
        found = self.rows(sql, params)
        if not found:
            return np.empty(0)
        names = list(found[0])
        cols = [np.asarray([r[n] for r in found]) for n in names]
        out: npt.NDArray[Any] = np.empty(len(found), dtype=[(n, c.dtype) for n, c in zip(names, cols, strict=True)])
        for n, c in zip(names, cols, strict=True):
            out[n] = c
        return out
