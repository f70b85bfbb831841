"""The shop's ``frontend`` service: the browser page and the public ``/api/*`` the load generator drives.

Every ``/api`` route forwards to a back-end service (see :mod:`instrumentation.demo.backends`); client
errors pass through with their status, back-end failures answer 502. ``GET /`` serves the shop page
with a ``Server-Timing: traceparent;desc=…`` header naming its own trace, so browser RUM can link a
page view to its backend trace; the page loads Vigil's ``/rum.js`` from ``rum_src`` when that exists
(and works without it).
"""

from __future__ import annotations

import html
from importlib import resources
from typing import Any

from litestar import Response, get, post
from litestar.types import ControllerRouterHandler
from opentelemetry import trace

from instrumentation.demo.common import Service


def _traceparent() -> str:
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return ""
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def _asset(name: str) -> str:
    return (resources.files("instrumentation.demo") / "static" / name).read_text(encoding="utf-8")


def frontend_routes(svc: Service, rum_src: str) -> list[ControllerRouterHandler]:
    """Route handlers of the ``frontend`` service; ``rum_src`` is the RUM script URL ('' for none)."""
    page = _asset("index.html").replace("{{RUM_SRC}}", html.escape(rum_src, quote=True))
    script = _asset("shop.js")

    @get("/", media_type="text/html")
    async def index() -> Response[str]:
        headers = {"Cache-Control": "no-store"}
        if traceparent := _traceparent():
            headers["Server-Timing"] = f'traceparent;desc="{traceparent}"'
        return Response(page, media_type="text/html", headers=headers)

    @get("/static/shop.js", media_type="text/javascript")
    async def shop_js() -> str:
        return script

    @get("/api/products")
    async def products() -> Any:
        return await svc.call("inventory", "GET", "/products", params={"limit": 12})

    @get("/api/products/{product_id:int}")
    async def product(product_id: int) -> Any:
        return await svc.call("inventory", "GET", f"/products/{product_id}")

    @get("/api/search")
    async def search(q: str = "") -> Any:
        return await svc.call("inventory", "GET", "/search", params={"q": q})

    @get("/api/recommendations")
    async def recommendations(session: int = 0) -> Any:
        return await svc.call("inventory", "GET", "/recommendations", params={"session": session})

    @post("/api/checkout")
    async def checkout(data: dict[str, Any]) -> Any:
        return await svc.call("checkout", "POST", "/orders", json=data)

    @get("/api/orders/{order_id:int}")
    async def order(order_id: int) -> Any:
        return await svc.call("checkout", "GET", f"/orders/{order_id}")

    @get("/api/reports/sales")
    async def sales(days: int = 7) -> Any:
        return await svc.call("checkout", "GET", "/reports/sales", params={"days": days})

    return [index, shop_js, products, product, search, recommendations, checkout, order, sales]
