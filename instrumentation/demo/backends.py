"""The shop's back-end services: ``inventory``, ``payments`` and ``checkout`` (route handlers per service).

Behaviour the demo is built to show (see :mod:`instrumentation.demo.schema` for the data facts):

* inventory: product list/detail (404 beyond the catalogue), stock reservation (409 when out of
  stock, WARNING logs on low stock), search (400 without a query), recommendations whose scan of the
  unindexed, growing ``view_history`` table makes them slower the longer the demo runs.
* payments: a simulated card gateway call (a CLIENT span to ``acme-pay``, log-normal latency) that
  declines a configurable share of charges by raising :class:`PaymentGatewayError` — transaction and
  order ids vary in the message, the stack has several in-app frames — answered 500.
* checkout: order placement across inventory and payments (a failed payment marks the order and
  answers 502), order detail with an **N+1** query per item, and a sales report that scans all of
  ``order_events`` without an index (the slow query).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from litestar import get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.types import ControllerRouterHandler
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from instrumentation.demo.common import Service
from instrumentation.demo.schema import VIEWS_PER_RECOMMENDATION

PRODUCT_COLUMNS = "id, sku, name, price_cents, stock"
LOW_STOCK = 10


class PaymentGatewayError(RuntimeError):
    """The card gateway declined or failed a charge."""


def _product(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(("id", "sku", "name", "price_cents", "stock"), row, strict=True))


def inventory_routes(svc: Service) -> list[ControllerRouterHandler]:
    """Route handlers of the ``inventory`` service."""

    @get("/products")
    async def products(limit: int = 20) -> list[dict[str, Any]]:
        rows = await svc.query(f"SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id LIMIT %s", min(limit, 100))
        return [_product(r) for r in rows]

    @get("/products/{product_id:int}")
    async def product(product_id: int) -> dict[str, Any]:
        rows = await svc.query(f"SELECT {PRODUCT_COLUMNS} FROM products WHERE id = %s", product_id)
        if not rows:
            raise NotFoundException(detail=f"no product {product_id}")
        return _product(rows[0])

    @post("/reserve")
    async def reserve(data: dict[str, Any]) -> dict[str, Any]:
        left = {}
        for item in data.get("items", []):
            rows = await svc.query("UPDATE products SET stock = stock - %s WHERE id = %s AND stock >= %s "
                                   "RETURNING stock", item["qty"], item["product_id"], item["qty"])
            if not rows:
                svc.log.warning("out of stock: product %s", item["product_id"])
                raise HTTPException(status_code=409, detail=f"product {item['product_id']} is out of stock")
            stock = rows[0][0]
            if stock < LOW_STOCK:
                svc.log.warning("low stock: product %s has %d left; restocking", item["product_id"], stock)
                await svc.execute("UPDATE products SET stock = stock + 200 WHERE id = %s", item["product_id"])
            left[str(item["product_id"])] = stock
        return {"reserved": left}

    @get("/search")
    async def search(q: str = "") -> list[dict[str, Any]]:
        if len(q.strip()) < 2:
            raise HTTPException(status_code=400, detail="query parameter q needs at least 2 characters")
        rows = await svc.query(f"SELECT {PRODUCT_COLUMNS} FROM products WHERE name ILIKE %s ORDER BY id LIMIT 20",
                               f"%{q.strip()}%")
        return [_product(r) for r in rows]

    @get("/recommendations")
    async def recommendations(session: int = 0) -> list[dict[str, Any]]:
        await svc.execute("INSERT INTO view_history (session_id, product_id) "
                          "SELECT %s, 1 + (g * 37 + %s) %% 200 FROM generate_series(1, %s) AS g",
                          session, session, VIEWS_PER_RECOMMENDATION)
        top = await svc.query("SELECT product_id, count(*) FROM view_history WHERE session_id <> %s "
                              "GROUP BY product_id ORDER BY count(*) DESC, product_id LIMIT 5", session)
        ids = [r[0] for r in top]
        rows = await svc.query(f"SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ANY(%s) ORDER BY id", ids)
        return [_product(r) for r in rows]

    return [products, product, reserve, search, recommendations]


def payments_routes(svc: Service, decline_rate: float) -> list[ControllerRouterHandler]:
    """Route handlers of the ``payments`` service; ``decline_rate`` of charges fail."""
    tracer = trace.get_tracer("shop.payments")

    async def call_gateway(order_id: int, amount_cents: int) -> str:
        txn = f"txn_{svc.rng.randrange(10**8, 10**9)}"
        with tracer.start_as_current_span("acme-pay authorize", kind=SpanKind.CLIENT, attributes={
                "peer.service": "acme-pay", "server.address": "api.acmepay.example", "server.port": 443,
                "payment.amount_cents": amount_cents}):
            await asyncio.sleep(min(1.5, math.exp(svc.rng.gauss(math.log(0.06), 0.5))))
            if svc.rng.random() < decline_rate:
                code = svc.rng.choice((51, 54, 91))
                raise PaymentGatewayError(
                    f"gateway declined transaction {txn} for order {order_id}: code {code}")
        return txn

    async def authorize(order_id: int, amount_cents: int) -> str:
        try:
            return await call_gateway(order_id, amount_cents)
        except PaymentGatewayError:
            await svc.execute("INSERT INTO payments (order_id, amount_cents, status, txn) VALUES (%s, %s, %s, %s)",
                              order_id, amount_cents, "declined", "")
            raise

    @post("/charge")
    async def charge(data: dict[str, Any]) -> dict[str, Any]:
        order_id, amount = int(data["order_id"]), int(data["amount_cents"])
        try:
            txn = await authorize(order_id, amount)
        except PaymentGatewayError as exc:
            svc.log.error("payment failed for order %s: %s", order_id, exc, exc_info=exc)
            raise
        await svc.execute("INSERT INTO payments (order_id, amount_cents, status, txn) VALUES (%s, %s, %s, %s)",
                          order_id, amount, "captured", txn)
        svc.log.info("captured %d cents for order %s (%s)", amount, order_id, txn)
        return {"txn": txn, "status": "captured"}

    return [charge]


def checkout_routes(svc: Service) -> list[ControllerRouterHandler]:
    """Route handlers of the ``checkout`` service."""

    @post("/orders")
    async def place_order(data: dict[str, Any]) -> dict[str, Any]:
        items = data.get("items") or []
        if not items:
            raise HTTPException(status_code=400, detail="an order needs at least one item")
        await svc.call("inventory", "POST", "/reserve", json={"items": items})
        ids = [int(i["product_id"]) for i in items]
        prices = dict(await svc.query("SELECT id, price_cents FROM products WHERE id = ANY(%s)", ids))
        total = sum(prices[int(i["product_id"])] * int(i["qty"]) for i in items)
        rows = await svc.query("INSERT INTO orders (customer_id, status, total_cents) VALUES (%s, 'pending', %s) "
                               "RETURNING id", int(data.get("customer_id", 0)), total)
        order_id = rows[0][0]
        for i in items:
            await svc.execute("INSERT INTO order_items (order_id, product_id, qty) VALUES (%s, %s, %s)",
                              order_id, int(i["product_id"]), int(i["qty"]))
        try:
            payment = await svc.call("payments", "POST", "/charge",
                                     json={"order_id": order_id, "amount_cents": total})
        except HTTPException:
            await svc.execute("UPDATE orders SET status = 'payment_failed' WHERE id = %s", order_id)
            raise
        await svc.execute("UPDATE orders SET status = 'paid' WHERE id = %s", order_id)
        await svc.execute("INSERT INTO order_events (order_id, kind, amount_cents, created_at) "
                          "VALUES (%s, 'paid', %s, now())", order_id, total)
        svc.log.info("order %s placed: %d items, %d cents", order_id, len(items), total)
        return {"order_id": order_id, "total_cents": total, "txn": payment["txn"]}

    @get("/orders/{order_id:int}")
    async def order(order_id: int) -> dict[str, Any]:
        rows = await svc.query("SELECT id, customer_id, status, total_cents FROM orders WHERE id = %s", order_id)
        if not rows:
            raise NotFoundException(detail=f"no order {order_id}")
        items = await svc.query("SELECT product_id, qty FROM order_items WHERE order_id = %s ORDER BY id", order_id)
        lines = []
        for product_id, qty in items:  # the N+1: one query per item instead of one join
            product = await svc.query("SELECT id, name, price_cents FROM products WHERE id = %s", product_id)
            lines.append({"product": product[0][1] if product else None, "qty": qty})
        return {"id": rows[0][0], "status": rows[0][2], "total_cents": rows[0][3], "items": lines}

    @get("/reports/sales")
    async def sales(days: int = 7) -> list[dict[str, Any]]:
        rows = await svc.query(
            "SELECT kind, date_trunc('day', created_at) AS day, count(*), count(DISTINCT order_id), sum(amount_cents) "
            "FROM order_events "
            "WHERE created_at > now() - make_interval(days => %s) AND kind IN ('paid', 'refunded') "
            "GROUP BY kind, day ORDER BY day, kind", days)
        return [{"kind": k, "day": d.isoformat(), "events": n, "orders": o, "amount_cents": int(s)}
                for k, d, n, o, s in rows]

    return [place_order, order, sales]
