"""The demo's load generator: a seeded, open-loop mix of shop requests, with exact counts of what it did.

Requests arrive as a Poisson process at ``rate`` per second (at most ``concurrency`` in flight; an
arrival finding them all busy waits, so the achieved rate can fall below the target), each picking
an action from :data:`MIX` with a ``random.Random(seed)``. :class:`LoadStats` counts every request
by outcome: a response (2xx/3xx ``ok``, 4xx ``client_errors``, 5xx ``errors``) — each of which is
exactly one frontend SERVER span in Vigil — or a transport ``failure`` (no answer, maybe no span).
The generator is not instrumented: the shop's frontend starts every trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from instrumentation.demo.schema import PRODUCTS, SEED_ORDERS

# (weight, action); see _request for what each does
MIX: tuple[tuple[int, str], ...] = (
    (5, "page"), (25, "products"), (20, "product"), (8, "search"), (10, "recommendations"),
    (15, "checkout"), (12, "order"), (5, "sales_report"),
)
# How long requests in flight may finish after the load stops: the client's default timeout. A cancelled
# request counts as a failure although the shop may still serve it (a 5 s bound cancelled a slow GET / on
# a loaded machine that the shop then answered); an idle drain costs nothing.
DRAIN_S = 30.0
SEARCH_TERMS = ("mug", "kettle", "beans", "grinder", "filter", "scale", "x")  # "x" is too short: a 400


@dataclass
class LoadStats:
    """What the generator sent and what came back (see the module doc for the outcome classes)."""

    sent: int = 0
    ok: int = 0
    client_errors: int = 0
    errors: int = 0
    failures: int = 0
    by_action: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def responses(self) -> int:
        """Requests that got an HTTP answer (each is one frontend server span)."""
        return self.ok + self.client_errors + self.errors

    @property
    def in_flight(self) -> int:
        """Sent but not yet answered or failed."""
        return self.sent - self.responses - self.failures

    def rate(self) -> float:
        """Requests sent per second since the start."""
        return self.sent / max(1e-9, time.monotonic() - self.started)

    def percentile_ms(self, q: float) -> float:
        """The ``q`` quantile (0–1) of response latency in milliseconds (0 without responses)."""
        if not self.latencies_s:
            return 0.0
        ordered = sorted(self.latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def record(self, action: str, status: int | None, elapsed_s: float) -> None:
        """Count one finished request (``status`` None for a transport failure)."""
        self.by_action[action] += 1
        if status is None:
            self.failures += 1
            return
        self.by_status[status] += 1
        self.latencies_s.append(elapsed_s)
        if status >= 500:
            self.errors += 1
        elif status >= 400:
            self.client_errors += 1
        else:
            self.ok += 1


async def _drain(tasks: set[asyncio.Task[None]]) -> None:
    """Let requests in flight finish for :data:`DRAIN_S`; cancel the rest (each counts as a failure)."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=DRAIN_S)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)


class LoadGenerator:
    """Drives the shop at ``base_url`` (the frontend); see the module doc."""

    def __init__(self, base_url: str, *, rate: float, seed: int, concurrency: int = 32,
                 timeout_s: float = 30.0) -> None:
        """Configure the load; nothing is sent before :meth:`run`."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.base_url = base_url.rstrip("/")
        self.rate = rate
        self.rng = random.Random(seed)
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.stats = LoadStats()
        self._actions = [a for _, a in MIX]
        self._weights = [w for w, _ in MIX]

    def _pick(self) -> tuple[str, str, str, dict[str, Any]]:
        """Choose the next request: ``(action, method, path, httpx kwargs)``."""
        rng = self.rng
        action = rng.choices(self._actions, self._weights)[0]
        if action == "page":
            return action, "GET", "/", {}
        if action == "products":
            return action, "GET", "/api/products", {}
        if action == "product":  # ids past the catalogue are 404s
            return action, "GET", f"/api/products/{rng.randint(1, PRODUCTS + PRODUCTS // 10)}", {}
        if action == "search":
            return action, "GET", "/api/search", {"params": {"q": rng.choice(SEARCH_TERMS)}}
        if action == "recommendations":
            return action, "GET", "/api/recommendations", {"params": {"session": rng.randint(1, 500)}}
        if action == "checkout":
            items = [{"product_id": rng.randint(1, PRODUCTS), "qty": rng.randint(1, 3)}
                     for _ in range(rng.randint(1, 4))]
            return action, "POST", "/api/checkout", {"json": {"customer_id": rng.randint(1, 97), "items": items}}
        if action == "order":  # seeded orders only, so the N+1 size is known (schema.items_of_order)
            return action, "GET", f"/api/orders/{rng.randint(1, SEED_ORDERS)}", {}
        return action, "GET", "/api/reports/sales", {"params": {"days": rng.choice((1, 7, 30))}}

    async def _one(self, client: httpx.AsyncClient, slots: asyncio.Semaphore) -> None:
        action, method, path, kwargs = self._pick()
        self.stats.sent += 1
        began = time.monotonic()
        status: int | None = None
        try:
            response = await client.request(method, self.base_url + path, **kwargs)
            status = response.status_code
        except httpx.HTTPError:
            status = None
        finally:
            self.stats.record(action, status, time.monotonic() - began)
            slots.release()

    async def run(self, stop: asyncio.Event, duration_s: float | None = None,
                  on_tick: Callable[[LoadStats], None] | None = None, tick_s: float = 0.25) -> LoadStats:
        """Send load until ``stop`` is set or ``duration_s`` passes; wait for requests in flight; return the stats."""
        slots = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        self.stats = LoadStats()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        next_tick = time.monotonic()
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(timeout=self.timeout_s, limits=limits) as client:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                await slots.acquire()
                task = asyncio.create_task(self._one(client, slots))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                if on_tick is not None and time.monotonic() >= next_tick:
                    on_tick(self.stats)
                    next_tick = time.monotonic() + tick_s
                gap = self.rng.expovariate(self.rate)
                if deadline is not None:
                    gap = min(gap, max(0.0, deadline - time.monotonic()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=gap)
            await _drain(tasks)
        if on_tick is not None:
            on_tick(self.stats)
        return self.stats
