"""instrumentation.demo.loadgen: the seeded request mix, the outcome counting, and runs against a real HTTP server.

The server is uvicorn on a free port (its own event loop in a thread) serving a tiny ASGI app that
answers every path like the shop would for the outcome classes: ``/`` redirects (302), a checkout
fails (500), a product id past the catalogue and an unknown path are 404s, a one-letter search is a
400, anything else is a 200. It counts what it answered by status, so the generator's own counts can
be compared with what really arrived; it can answer after a delay, so requests are in flight when the
load stops. Each run gets its own event loop in a thread whose exception handler must stay silent.
"""

from __future__ import annotations

import asyncio
import gc
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import uvicorn

from instrumentation.demo import loadgen
from instrumentation.demo.loadgen import DRAIN_S, MIX, SEARCH_TERMS, LoadGenerator, LoadStats
from instrumentation.demo.schema import PRODUCTS, SEED_ORDERS

PRODUCT = re.compile(r"/api/products/(\d+)")
ORDER = re.compile(r"/api/orders/(\d+)")
KNOWN = {"/", "/api/products", "/api/search", "/api/recommendations", "/api/checkout", "/api/reports/sales"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CountingShop:
    """ASGI app: an answer for every path (see the module doc), counted by status and by path."""

    def __init__(self) -> None:
        self.by_status: Counter[int] = Counter()
        self.paths: list[str] = []
        self.delay_s = 0.0
        self.generation = 0  # a request answered after a reset (a late one of an earlier test) is not counted

    @staticmethod
    def status_of(method: str, path: str, query: dict[str, list[str]]) -> int:
        if path == "/":
            return 302
        if path == "/api/checkout":
            return 500 if method == "POST" else 405
        if path == "/api/search" and len(query.get("q", [""])[0]) < 2:
            return 400
        if match := PRODUCT.fullmatch(path):
            return 200 if int(match.group(1)) <= PRODUCTS else 404
        if ORDER.fullmatch(path) or path in KNOWN:
            return 200
        return 404

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        while (await receive()).get("more_body"):
            pass
        query = parse_qs(scope["query_string"].decode())
        status = self.status_of(scope["method"], scope["path"], query)
        generation = self.generation
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if generation == self.generation:
            self.by_status[status] += 1
            self.paths.append(scope["path"])
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"2")]
        if status == 302:
            headers.append((b"location", b"/elsewhere"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})


class ServerThread:
    """uvicorn serving ``CountingShop`` on 127.0.0.1:port, its loop in a daemon thread."""

    def __init__(self) -> None:
        self.app = CountingShop()
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # off the main thread uvicorn leaves signal handling alone
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False, log_config=None, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def reset(self) -> None:
        self.app.by_status.clear()
        self.app.paths.clear()
        self.app.delay_s = 0.0
        self.app.generation += 1

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    srv = ServerThread().start()
    yield srv
    srv.stop()


@pytest.fixture
def shop(server: ServerThread) -> ServerThread:
    server.reset()
    return server


def _run(gen: LoadGenerator, limit: float, *, stop_after: float | None = None, stop_first: bool = False,
         **kwargs: Any) -> tuple[LoadStats, float]:
    """``gen.run(stop, **kwargs)`` on its own event loop in a thread; (stats, seconds it took).

    ``stop`` is set after ``stop_after`` seconds, or before the run with ``stop_first``. A run that has
    not returned after ``limit`` seconds fails the test instead of hanging it (a runaway loop is left
    to its daemon thread: cancelling it is not reliable, as Python 3.11's ``asyncio.wait_for`` swallows
    a cancellation that arrives when ``stop.wait()`` has already finished). Anything the loop's exception
    handler gets (such as "Task exception was never retrieved") fails the test too.
    """
    out: list[tuple[LoadStats, float]] = []
    errors: list[BaseException] = []
    unhandled: list[dict[str, Any]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: unhandled.append(context))
        stop = asyncio.Event()
        if stop_first:
            stop.set()
        if stop_after is not None:
            asyncio.get_running_loop().call_later(stop_after, stop.set)
        began = time.monotonic()
        stats = await gen.run(stop, **kwargs)
        out.append((stats, time.monotonic() - began))
        gc.collect()  # finished tasks with an unretrieved exception report it when collected
        await asyncio.sleep(0)

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        pytest.fail(f"run did not return within {limit} s")
    if errors:
        raise errors[0]
    assert unhandled == [], f"the event loop's exception handler was called: {unhandled}"
    return out[0]


def _picks(seed: int, n: int) -> list[tuple[str, str, str, dict[str, Any]]]:
    gen = LoadGenerator("http://127.0.0.1:1", rate=1, seed=seed)
    return [gen._pick() for _ in range(n)]


# ---------------------------------------------------------------------------------------------------------------
# the mix


def test_same_seed_picks_the_same_sequence() -> None:
    assert _picks(7, 2000) == _picks(7, 2000)


def test_different_seeds_pick_different_sequences() -> None:
    a, b = _picks(7, 200), _picks(8, 200)
    assert a != b
    assert [p[0] for p in a] != [p[0] for p in b]  # the actions differ, not only the ids


def test_every_action_appears_with_roughly_its_weight() -> None:
    n = 20_000
    seen = Counter(action for action, *_ in _picks(1, n))
    total = sum(w for w, _ in MIX)
    assert set(seen) == {a for _, a in MIX}
    for weight, action in MIX:
        assert seen[action] / n == pytest.approx(weight / total, abs=0.015), action


def test_each_action_builds_its_request() -> None:
    picks = _picks(3, 5000)
    expected_path = {"page": "/", "products": "/api/products", "search": "/api/search",
                     "recommendations": "/api/recommendations", "checkout": "/api/checkout",
                     "sales_report": "/api/reports/sales"}
    for action, method, path, kwargs in picks:
        assert method == ("POST" if action == "checkout" else "GET"), action
        if action in expected_path:
            assert path == expected_path[action], action
        if action == "search":
            assert kwargs["params"]["q"] in SEARCH_TERMS
        elif action == "recommendations":
            assert 1 <= kwargs["params"]["session"] <= 500
        elif action == "sales_report":
            assert kwargs["params"]["days"] in (1, 7, 30)
        elif action == "checkout":
            body = kwargs["json"]
            assert 1 <= body["customer_id"] <= 97 and 1 <= len(body["items"]) <= 4
            for item in body["items"]:  # a checkout only buys products that exist
                assert 1 <= item["product_id"] <= PRODUCTS and 1 <= item["qty"] <= 3
        else:
            assert kwargs == {}, action


def test_order_ids_stay_within_the_seeded_orders() -> None:
    ids = [int(m.group(1)) for _, _, path, _ in _picks(5, 20_000) if (m := ORDER.fullmatch(path))]
    assert len(ids) > 1000
    assert min(ids) == 1 and max(ids) == SEED_ORDERS


def test_product_ids_go_ten_percent_past_the_catalogue() -> None:
    ids = [int(m.group(1)) for _, _, path, _ in _picks(5, 20_000) if (m := PRODUCT.fullmatch(path))]
    assert len(ids) > 1000
    top = PRODUCTS + PRODUCTS // 10
    assert min(ids) == 1 and max(ids) == top
    missing = sum(i > PRODUCTS for i in ids) / len(ids)  # those are the 404s
    assert missing == pytest.approx((top - PRODUCTS) / top, abs=0.03)


def test_rate_must_be_positive() -> None:
    for rate in (0, -1.0):
        with pytest.raises(ValueError, match="rate"):
            LoadGenerator("http://127.0.0.1:1", rate=rate, seed=1)


# ---------------------------------------------------------------------------------------------------------------
# LoadStats


def test_record_classifies_outcomes() -> None:
    stats = LoadStats()
    outcomes = [(200, 0.01), (204, 0.02), (302, 0.03), (399, 0.04), (400, 0.05), (404, 0.06), (499, 0.07),
                (500, 0.08), (503, 0.09), (None, 5.0), (None, 6.0)]
    stats.sent = len(outcomes) + 3  # three still in flight
    for i, (status, elapsed) in enumerate(outcomes):
        stats.record("a" if i % 2 else "b", status, elapsed)
    assert (stats.ok, stats.client_errors, stats.errors, stats.failures) == (4, 3, 2, 2)
    assert stats.responses == 9
    assert stats.in_flight == 3
    assert stats.by_status == Counter({200: 1, 204: 1, 302: 1, 399: 1, 400: 1, 404: 1, 499: 1, 500: 1, 503: 1})
    assert stats.by_action == Counter({"b": 6, "a": 5})
    assert stats.latencies_s == [e for s, e in outcomes if s is not None]  # failures have no latency


def test_percentile_ms() -> None:
    stats = LoadStats()
    assert stats.percentile_ms(0.5) == 0.0
    for ms in range(100, 0, -1):  # 100 ms … 1 ms, recorded out of order
        stats.record("x", 200, ms / 1000)
    assert stats.percentile_ms(0.0) == pytest.approx(1.0)
    assert stats.percentile_ms(0.5) == pytest.approx(51.0)
    assert stats.percentile_ms(0.99) == pytest.approx(100.0)
    assert stats.percentile_ms(1.0) == pytest.approx(100.0)
    stats.record("x", None, 60.0)  # a failure does not move the latency quantiles
    assert stats.percentile_ms(1.0) == pytest.approx(100.0)


def test_rate_is_sent_per_second_since_start() -> None:
    stats = LoadStats(sent=10, started=time.monotonic() - 2.0)
    assert stats.rate() == pytest.approx(5.0, rel=0.05)


# ---------------------------------------------------------------------------------------------------------------
# runs against the real server


def test_run_counts_equal_what_the_server_answered(shop: ServerThread) -> None:
    shop.app.delay_s = 0.2  # about 8 requests in flight at any time, so some are when the load stops
    ticks: list[int] = []
    gen = LoadGenerator(shop.url + "/", rate=40, seed=11)  # a trailing slash in the base url is fine
    stats, elapsed = _run(gen, 30, duration_s=1.5, on_tick=lambda s: ticks.append(s.sent), tick_s=0.25)
    assert 1.5 < elapsed < 1.5 + DRAIN_S
    assert stats is gen.stats
    assert 25 <= stats.sent <= 110  # Poisson arrivals at 40/s for 1.5 s: about 60
    assert stats.failures == 0 and stats.in_flight == 0
    assert stats.responses == stats.sent == sum(shop.app.by_status.values())
    assert dict(stats.by_status) == dict(shop.app.by_status)
    assert sum(stats.by_action.values()) == stats.sent
    # every checkout was a 500, nothing else was; redirects are answers, not followed
    assert stats.errors == stats.by_action["checkout"] == shop.app.by_status[500]
    assert stats.by_status[302] == stats.by_action["page"] == shop.app.paths.count("/")
    assert stats.ok == shop.app.by_status[200] + shop.app.by_status[302]
    assert stats.client_errors == shop.app.by_status[400] + shop.app.by_status[404]
    assert 405 not in stats.by_status and "/elsewhere" not in shop.app.paths
    assert len(stats.latencies_s) == stats.responses
    assert ticks and ticks == sorted(ticks) and ticks[-1] == stats.sent


def test_stop_ends_a_run_without_duration(shop: ServerThread) -> None:
    shop.app.delay_s = 0.1
    stats, elapsed = _run(LoadGenerator(shop.url, rate=40, seed=12), 10, stop_after=0.5)
    assert 0.5 <= elapsed < 1.5
    assert stats.sent > 0 and stats.failures == 0 and stats.in_flight == 0
    assert dict(stats.by_status) == dict(shop.app.by_status)


def test_stop_already_set_sends_nothing(shop: ServerThread) -> None:
    stats, elapsed = _run(LoadGenerator(shop.url, rate=40, seed=13), 5, stop_first=True, duration_s=5)
    assert stats.sent == 0 and sum(shop.app.by_status.values()) == 0
    assert elapsed < 1


def test_requests_still_in_flight_after_the_drain_are_cancelled_as_failures(
        shop: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loadgen, "DRAIN_S", 0.3)
    shop.app.delay_s = 3.0  # nothing is answered before the drain ends
    stats, elapsed = _run(LoadGenerator(shop.url, rate=40, seed=15), 10, duration_s=0.5)
    assert 0.5 + 0.3 <= elapsed < 0.5 + 0.3 + 1.0
    assert stats.sent > 0 and stats.failures == stats.sent and stats.in_flight == 0
    assert stats.responses == 0 and not stats.by_status


def test_server_down_gives_only_failures() -> None:
    gen = LoadGenerator(f"http://127.0.0.1:{_free_port()}", rate=40, seed=14, timeout_s=2)
    stats, _ = _run(gen, 10, duration_s=0.5)
    assert stats.sent > 0
    assert stats.failures == stats.sent and stats.in_flight == 0
    assert stats.responses == 0 and not stats.by_status and not stats.latencies_s
    assert sum(stats.by_action.values()) == stats.sent
    assert stats.percentile_ms(0.99) == 0.0
