"""What every demo-shop service shares: its database pool, its HTTP client to the other services.

A :class:`Service` is built once per process. Database work runs in a worker thread
(``asyncio.to_thread`` copies the context, so psycopg's spans are children of the request's span);
HTTP calls to other services go through one instrumented ``httpx.AsyncClient`` (``traceparent``
injected). :meth:`Service.call` maps an upstream's failure onto this service's answer: 4xx pass
through with their status, anything else becomes 502 — the way a real gateway behaves.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from litestar.exceptions import HTTPException

from instrumentation.dbpool import InstrumentedPool


@dataclass
class Service:
    """One running demo service: name, database pool, upstream base URLs, a seeded random source."""

    name: str
    pool: InstrumentedPool | None
    upstreams: dict[str, str]
    rng: random.Random
    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=30.0))
    log: logging.Logger = field(init=False)

    def __post_init__(self) -> None:
        """Name the service's logger ``shop.<name>``."""
        self.log = logging.getLogger(f"shop.{self.name}")

    def _run(self, sql: str, params: Sequence[Any], fetch: bool) -> list[tuple[Any, ...]]:
        if self.pool is None:
            raise RuntimeError(f"service {self.name} has no database")
        with self.pool.connection() as conn:
            cur = conn.execute(sql, params)
            return list(cur.fetchall()) if fetch and cur.description else []

    async def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement in a worker thread; return its rows."""
        return await asyncio.to_thread(self._run, sql, params, True)

    async def execute(self, sql: str, *params: Any) -> None:
        """Run one statement whose rows are not needed."""
        await asyncio.to_thread(self._run, sql, params, False)

    async def call(self, upstream: str, method: str, path: str, **kwargs: Any) -> Any:
        """Call another service; return its JSON. Raises HTTPException mirroring the upstream's failure."""
        url = self.upstreams[upstream].rstrip("/") + path
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.log.error("%s unreachable: %s %s: %s", upstream, method, path, exc)
            raise HTTPException(status_code=502, detail=f"{upstream} unreachable") from exc
        if response.status_code >= 400:
            detail = _detail(response)
            if response.status_code < 500:
                raise HTTPException(status_code=response.status_code, detail=detail)
            self.log.error("%s failed: %s %s -> %d %s", upstream, method, path, response.status_code, detail)
            raise HTTPException(status_code=502, detail=f"{upstream}: {detail}")
        return response.json()

    async def close(self) -> None:
        """Close the HTTP client and the pool."""
        await self.client.aclose()
        if self.pool is not None:
            await asyncio.to_thread(self.pool.pool.close)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)[:200]
